import Foundation

/// A server a test starts on loopback. It is stopped by ``stop()`` or when released, and — as it
/// runs under Servers/guard.py or watches its parent itself — also when the test process dies.
final class ServerProcess: @unchecked Sendable {
    // @unchecked: `process` is only started in init and stopped under `lock`.
    let process: Process
    private let lock = NSLock()

    init(_ arguments: [String], output: FileHandle? = nil) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let output { process.standardOutput = output }
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit { stop() }

    /// Ends the server and waits for it: SIGTERM (guard.py then kills the server's process group),
    /// SIGKILL if it is still there after 5 s.
    func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    static var serversDirectory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Servers").path
    }
}

/// Ports the kernel reports free on 127.0.0.1 right now (each bound to port 0, then closed).
func freePorts(_ count: Int) throws -> [Int] {
    var sockets: [Int32] = []
    defer { for s in sockets { close(s) } }
    var ports: [Int] = []
    while ports.count < count {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { throw POSIXError(.EMFILE) }
        sockets.append(s)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) }
        }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        // SeaweedFS also listens on port + 10000 unless told otherwise; keep ports below that range.
        if port < 55_000 && !ports.contains(port) { ports.append(port) }
    }
    return ports
}

/// Whether an executable is on PATH.
func onPath(_ name: String) -> Bool {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    return path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
}
