import CaskRemote
import CaskTestSupport
import Foundation

/// `redis-server` on 127.0.0.1 and a free port, without persistence, in a directory of its own.
/// It can be stopped and started again on the same port.
final class RedisServer: @unchecked Sendable {
    // @unchecked: `server` is replaced only under `lock`.
    static var isAvailable: Bool { onPath("redis-server") }

    let dir = TemporaryDirectory("cask-redis")
    let port: Int
    let password: String?
    private let lock = NSLock()
    private var server: ServerProcess?

    init(password: String? = nil) throws {
        port = try freePorts(1)[0]
        self.password = password
        try start()
    }

    deinit { stop() }

    var configuration: RedisConfiguration {
        RedisConfiguration(host: "127.0.0.1", port: port, password: password, timeout: .milliseconds(500))
    }

    /// Starts the server and waits (at most 10 s) until it answers PING.
    func start() throws {
        var arguments = ["python3", ServerProcess.serversDirectory + "/guard.py", "\(getpid())", dir.sub("redis.log"), "--",
                         "redis-server", "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--dir", dir.path]
        if let password { arguments += ["--requirepass", password] }
        let process = try ServerProcess(arguments)
        lock.withLock { server = process }
        let client = RedisClient(configuration)
        let deadline = Date().addingTimeInterval(10)
        while true {
            if (try? client.ping()) != nil { return }
            guard Date() < deadline, process.process.isRunning else {
                process.stop()
                throw POSIXError(.ETIMEDOUT)
            }
            usleep(20_000)
        }
    }

    func stop() {
        let process = lock.withLock { () -> ServerProcess? in
            defer { server = nil }
            return server
        }
        process?.stop()
    }
}
