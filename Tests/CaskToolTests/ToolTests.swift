import CaskTestSupport
import Foundation
import Testing

/// Runs the built `cask` executable as a child process.
struct Tool {
    static let path = builtExecutable("cask")

    struct Result {
        var status: Int32
        var stdout: Data
        var stderr: String
        var text: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// A child that exits without reading its input must not kill the test process.
    static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    @discardableResult
    static func run(_ args: [String], stdin: Data? = nil, prefix: [String] = []) throws -> Result {
        _ = ignoreBrokenPipes
        let p = Process()
        if prefix.isEmpty {
            p.executableURL = URL(fileURLWithPath: path)
            p.arguments = args
        } else {
            p.executableURL = URL(fileURLWithPath: prefix[0])
            p.arguments = Array(prefix.dropFirst()) + [path] + args
        }
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        try p.run()
        // Feed standard input and drain standard error concurrently, so no pipe fills up.
        let writer = input.fileHandleForWriting
        let feed = Thread {
            if let stdin { try? writer.write(contentsOf: stdin) }
            try? writer.close()
        }
        feed.start()
        let errors = ErrorCollector(err.fileHandleForReading)
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = errors.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: o, stderr: String(decoding: e, as: UTF8.self))
    }
}

final class Scratch: @unchecked Sendable {
    // @unchecked: immutable after init.
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.path + "/cask-tool-test-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    var cache: String { path + "/cache" }
}

@Suite("cask command-line tool")
struct ToolTests {
    @Test func setGetDeleteWithExitCodes() throws {
        let s = Scratch()
        #expect(try Tool.run(["set", s.cache, "greeting", "hello", "--tag", "t", "--expire", "3600"]).status == 0)
        let got = try Tool.run(["get", s.cache, "greeting"])
        #expect(got.status == 0 && got.text == "hello")
        let meta = try Tool.run(["get", s.cache, "greeting", "--meta"])
        let object = try JSONSerialization.jsonObject(with: meta.stdout) as! [String: Any]
        #expect(object["tag"] as? String == "t")
        #expect(object["size"] as? Int == 5)
        #expect((object["expire"] as? Double ?? 0) > Date().timeIntervalSince1970)
        let missing = try Tool.run(["get", s.cache, "nope"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("not found"))
        #expect(try Tool.run(["delete", s.cache, "greeting"]).status == 0)
        #expect(try Tool.run(["delete", s.cache, "greeting"]).status == 1)
        #expect(try Tool.run(["get", s.cache, "greeting"]).status == 1)
        #expect(try Tool.run(["set", s.cache, "short", "v", "--expire", "0.2"]).status == 0)
        Thread.sleep(forTimeInterval: 0.3)
        #expect(try Tool.run(["get", s.cache, "short"]).status == 1, "an expired key is not found")
    }

    @Test func binaryValuesThroughStandardInput() throws {
        let s = Scratch()
        let bytes = Data((0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        #expect(try Tool.run(["set", s.cache, "blob"], stdin: bytes).status == 0)
        #expect(try Tool.run(["get", s.cache, "blob"]).stdout == bytes)
        #expect(try Tool.run(["set", s.cache, "empty"], stdin: Data()).status == 0)
        let empty = try Tool.run(["get", s.cache, "empty"])
        #expect(empty.status == 0 && empty.stdout.isEmpty)
    }

    @Test func keysStatsEvictExpireClearCompactCheck() throws {
        let s = Scratch()
        for i in 0..<5 { try Tool.run(["set", s.cache, "k\(i)", "v\(i)", "--tag", i % 2 == 0 ? "even" : "odd"]) }
        try Tool.run(["set", s.cache, "soon", "x", "--expire", "1.5"])
        #expect(try Tool.run(["keys", s.cache]).text == "k0\nk1\nk2\nk3\nk4\nsoon\n")
        #expect(try Tool.run(["keys", s.cache, "--tag", "even"]).text == "k0\nk2\nk4\n")
        let stats = try Tool.run(["stats", s.cache, "--json"])
        let object = try JSONSerialization.jsonObject(with: stats.stdout) as! [String: Any]
        #expect(object["count"] as? Int == 6)
        #expect((object["shards"] as? [Any])?.count == 8)
        #expect(try Tool.run(["stats", s.cache]).text.contains("count        6"))
        Thread.sleep(forTimeInterval: 1.6)
        #expect(try Tool.run(["expire", s.cache]).text == "1\n")
        #expect(try Tool.run(["evict", s.cache, "--tag", "even"]).text == "3\n")
        #expect(try Tool.run(["compact", s.cache]).status == 0)
        let check = try Tool.run(["check", s.cache, "--json"])
        #expect(check.status == 0)
        #expect((try JSONSerialization.jsonObject(with: check.stdout) as! [String: Any])["healthy"] as? Bool == true)
        #expect(try Tool.run(["clear", s.cache]).text == "2\n")
        #expect(try Tool.run(["keys", s.cache]).text == "")
    }

    @Test func usageErrorsExitTwo() throws {
        let s = Scratch()
        for args in [["get"], ["get", s.cache], ["set", s.cache, "k", "v", "--expire", "abc"], ["frobnicate"],
                     ["bench", "--procs", "0"], ["set", s.cache, "k", "v", "--shards", "0"], ["evict", s.cache]] {
            let r = try Tool.run(args)
            #expect(r.status == 2, "\(args): \(r.status) \(r.stderr)")
            #expect(!r.stderr.isEmpty)
        }
        #expect(try Tool.run(["--help"]).status == 0)
    }

    /// A negative expiry is refused with the rule it breaks, not taken for a missing value.
    @Test func negativeExpiryNamesTheRule() throws {
        let s = Scratch()
        for args in [["set", s.cache, "k", "v", "--expire", "-5"], ["set", s.cache, "k", "v", "--expire=-5"]] {
            let r = try Tool.run(args)
            #expect(r.status == 2, "\(args): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains("--expire must be a positive number of seconds"), "\(args): \(r.stderr)")
            #expect(!r.stderr.contains("Missing value"), "\(args): \(r.stderr)")
        }
        #expect(try Tool.run(["get", s.cache, "k"]).status != 0)
    }

    @Test func notACacheExitsThree() throws {
        let s = Scratch()
        try FileManager.default.createDirectory(atPath: s.path + "/plain", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: s.path + "/plain/notes.txt", contents: Data("x".utf8))
        for args in [["get", s.path + "/plain", "k"], ["keys", s.path + "/missing"], ["set", s.path + "/plain", "k", "v"],
                     ["check", s.path + "/plain"], ["stats", s.path + "/plain/notes.txt"]] {
            let r = try Tool.run(args)
            #expect(r.status == 3, "\(args): \(r.status) \(r.stderr)")
            #expect(r.stderr.hasPrefix("cask: "))
        }
    }

    @Test func damagedCacheFailsCheckUntilFixed() throws {
        let s = Scratch()
        for i in 0..<40 { try Tool.run(["set", s.cache, "k\(i)", "value-\(i)", "--shards", "1"]) }
        let log = s.cache + "/shard-000/00000001.log"
        var bytes = [UInt8](FileManager.default.contents(atPath: log)!)
        // The middle of the records, not of the zeros allocated after them.
        bytes[(bytes.lastIndex(where: { $0 != 0 })! + 1) / 2] ^= 0x55
        try Data(bytes).write(to: URL(fileURLWithPath: log))
        let damaged = try Tool.run(["check", s.cache])
        #expect(damaged.status == 3)
        #expect(damaged.text.contains("corrupt ranges       1"))
        let fixed = try Tool.run(["check", s.cache, "--fix"])
        #expect(fixed.status == 0, "\(fixed.text)")
        #expect(try Tool.run(["check", s.cache]).status == 0)
        #expect(try Tool.run(["keys", s.cache]).text.split(separator: "\n").count == 39)
    }

    @Test func importReportsMalformedLinesAndAcknowledges() throws {
        let s = Scratch()
        let input = """
            {"key": "a", "value": "text"}
            {"key": "b", "value_base64": "AAEC/w=="}
            this is not json
            {"key": "c"}
            {"key": "d", "value": "1", "expire": -5}
            {"key": "e", "value": "42", "type": "integer", "tag": "n", "expire": 600}

            """
        let r = try Tool.run(["import", s.cache, "--ack", "--sync", "always"], stdin: Data(input.utf8))
        #expect(r.status == 5)
        #expect(r.text == "a\nb\ne\n")
        #expect(r.stderr.contains("line 3"))
        #expect(r.stderr.contains("line 4"))
        #expect(r.stderr.contains("line 5"))
        #expect(try Tool.run(["get", s.cache, "b"]).stdout == Data([0, 1, 2, 255]))
        #expect(try Tool.run(["get", s.cache, "e"]).text == "42")
        #expect(try Tool.run(["import", s.cache], stdin: Data("{\"key\":\"z\",\"value\":\"ok\"}\n".utf8)).status == 0)
    }

    @Test func exportImportRoundTripsExactly() throws {
        let s = Scratch()
        let lines = (0..<200).map { i -> String in
            let value = i % 3 == 0 ? "\"value_base64\": \"\(Data([UInt8(i), 0xFF, 0xFE]).base64EncodedString())\"" : "\"value\": \"v\(i)\""
            let tag = i % 5 == 0 ? ", \"tag\": \"five\"" : ""
            let expire = i % 7 == 0 ? ", \"expire\": 3600" : ""
            return "{\"key\": \"key-\(i)\", \(value)\(tag)\(expire)}"
        }
        #expect(try Tool.run(["import", s.cache], stdin: Data(lines.joined(separator: "\n").utf8)).status == 0)
        let first = try Tool.run(["export", s.cache])
        #expect(try Tool.run(["import", s.path + "/copy"], stdin: first.stdout).status == 0)
        let second = try Tool.run(["export", s.path + "/copy"])
        func normalized(_ d: Data) throws -> [[String: String]] {
            try String(decoding: d, as: UTF8.self).split(separator: "\n").map { line in
                let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                // Remaining time to live shrinks between the two exports; it must still be there.
                return o.mapValues { v in (v as? String) ?? ((v as? Double).map { $0 > 3500 ? "ttl" : "short" } ?? "?") }
            }
        }
        #expect(try normalized(first.stdout) == normalized(second.stdout))
        #expect(try normalized(first.stdout).count == 200)
    }

    @Test func twoImportersAtOnce() throws {
        let s = Scratch()
        @Sendable func batch(_ name: String) -> Data {
            Data((0..<500).map { "{\"key\": \"\(name)-\($0)\", \"value\": \"\(name)\($0)\"}" }.joined(separator: "\n").utf8)
        }
        let group = DispatchGroup()
        let results = ResultBox()
        for name in ["left", "right"] {
            group.enter()
            DispatchQueue.global().async {
                results.set(name, try? Tool.run(["import", s.cache, "--ack"], stdin: batch(name)))
                group.leave()
            }
        }
        group.wait()
        for name in ["left", "right"] {
            let r = try #require(results.get(name))
            #expect(r.status == 0)
            #expect(r.text.split(separator: "\n").count == 500)
        }
        let keys = try Tool.run(["keys", s.cache]).text.split(separator: "\n")
        #expect(keys.count == 1000)
        #expect(try Tool.run(["get", s.cache, "right-499"]).text == "right499")
        #expect(try Tool.run(["check", s.cache]).status == 0)
    }

    /// A directory the user may not write to: a clear error, nothing changed (run as an
    /// unprivileged user when the tests run as root, since root ignores permissions).
    @Test func readOnlyDirectoryGivesAClearError() throws {
        let s = Scratch()
        try Tool.run(["set", s.cache, "k", "v"])
        var prefix: [String] = []
        if geteuid() == 0 {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { return }
            prefix = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            // The unprivileged user must reach the directory but not write it.
            chmod(s.path, 0o755)
        }
        func chmodTree(_ mode: mode_t) {
            chmod(s.cache, mode)
            for item in (FileManager.default.enumerator(atPath: s.cache)?.allObjects as? [String]) ?? [] {
                let p = s.cache + "/" + item
                var isDir: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: p, isDirectory: &isDir)
                chmod(p, isDir.boolValue ? mode : mode & 0o444)
            }
        }
        chmodTree(0o555)
        defer { chmodTree(0o755) }
        let r = try Tool.run(["set", s.cache, "k", "changed"], prefix: prefix)
        #expect(r.status == 4, "\(r.stderr)")
        #expect(r.stderr.contains("Permission denied"))
        chmodTree(0o755)
        #expect(try Tool.run(["get", s.cache, "k"]).text == "v")
    }
}

/// Reads a pipe to its end on a thread of its own.
final class ErrorCollector: @unchecked Sendable {
    // @unchecked: `data` is written by the reading thread before `done` is signalled and read after.
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread {
            self.data = handle.readDataToEndOfFile()
            self.done.signal()
        }.start()
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}

final class ResultBox: @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    private let lock = NSLock()
    private var values: [String: Tool.Result] = [:]
    func set(_ k: String, _ v: Tool.Result?) { lock.withLock { values[k] = v } }
    func get(_ k: String) -> Tool.Result? { lock.withLock { values[k] } }
}
