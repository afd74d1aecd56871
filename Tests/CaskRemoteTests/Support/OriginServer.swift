import AsyncHTTPClient
import CaskTestSupport
import Foundation

/// Servers/origin.py on 127.0.0.1, serving files from a directory of its own (see the script).
final class OriginServer: @unchecked Sendable {
    // @unchecked: immutable after init.
    let root: TemporaryDirectory
    let server: ServerProcess
    let port: Int

    init() throws {
        root = TemporaryDirectory("cask-origin")
        let out = Pipe()
        server = try ServerProcess(["python3", ServerProcess.serversDirectory + "/origin.py", "--root", root.path,
                                    "--parent", "\(getpid())"], output: out.fileHandleForWriting)
        // The script prints "PORT <n>" once it listens; wait for it at most 15 s.
        let reader = out.fileHandleForReading
        let box = PortBox()
        let thread = Thread {
            var text = ""
            while !text.contains("\n") {
                let d = reader.availableData
                if d.isEmpty { break }
                text += String(decoding: d, as: UTF8.self)
            }
            box.set(text)
        }
        thread.start()
        guard let line = box.wait(seconds: 15), line.hasPrefix("PORT "), let p = Int(line.dropFirst(5).prefix { $0.isNumber }) else {
            server.stop()
            throw POSIXError(.ETIMEDOUT)
        }
        port = p
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Writes a served file, with a modification time (seconds since the epoch) when given.
    func put(_ name: String, _ bytes: [UInt8], mtime: Int? = nil) throws {
        let path = root.sub(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        if let mtime {
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: Double(mtime))], ofItemAtPath: path)
        }
    }

    func mark(_ name: String, _ marker: String, on: Bool) throws {
        let path = root.sub("\(name).\(marker)")
        if on { _ = FileManager.default.createFile(atPath: path, contents: Data()) } else { try? FileManager.default.removeItem(atPath: path) }
    }

    func remove(_ name: String) throws { try FileManager.default.removeItem(atPath: root.sub(name)) }

    /// How many 200 and 304 answers the server gave for `name`.
    func counts(_ name: String) async throws -> (ok: Int, notModified: Int) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url("/counts")), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        let all = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: [String: Int]] ?? [:]
        return (all[name]?["200"] ?? 0, all[name]?["304"] ?? 0)
    }

    func stop() { server.stop() }
}

final class PortBox: @unchecked Sendable {
    // @unchecked: guarded by the condition.
    private let condition = NSCondition()
    private var value: String?
    private var done = false

    func set(_ v: String) {
        condition.lock()
        value = v
        done = true
        condition.broadcast()
        condition.unlock()
    }

    func wait(seconds: Double) -> String? {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(seconds)
        while !done && condition.wait(until: deadline) {}
        return value
    }
}
