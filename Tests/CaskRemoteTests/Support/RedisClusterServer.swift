import CaskRemote
import CaskTestSupport
import Foundation

/// A Redis Cluster of three masters (no replicas) on 127.0.0.1 and free ports, each node without
/// persistence in a directory of its own (where it keeps its `nodes.conf`, so a stopped node
/// started again rejoins). Built with `redis-cli --cluster create`. The nodes keep serving their
/// slots while another is down (`cluster-require-full-coverage no`).
final class RedisClusterServer: @unchecked Sendable {
    // @unchecked: `servers` entries are replaced only under `lock`.
    static var isAvailable: Bool { onPath("redis-server") && onPath("redis-cli") }

    let dir = TemporaryDirectory("cask-redis-cluster")
    let ports: [Int]
    /// Every node's `requirepass` (and `masterauth`), if any.
    let password: String?
    private let lock = NSLock()
    private var servers: [ServerProcess?]

    init(password: String? = nil) throws {
        self.password = password
        ports = try freePorts(3)
        servers = [nil, nil, nil]
        do {
            for i in 0..<3 { try start(i) }
            try create()
        } catch {
            stop()
            throw error
        }
    }

    deinit { stop() }

    var nodes: [RedisNode] { ports.map { RedisNode(host: "127.0.0.1", port: $0) } }

    /// A configuration that knows only the first node as its seed.
    func configuration(timeout: Duration = .milliseconds(500), seeds: [RedisNode]? = nil) -> RedisClusterConfiguration {
        RedisClusterConfiguration(seeds: seeds ?? [nodes[0]], password: password, timeout: timeout, connectTimeout: timeout)
    }

    /// A plain connection to node `i`, for commands the test sends to one node.
    func direct(_ i: Int) -> RedisClient {
        RedisClient(RedisConfiguration(host: "127.0.0.1", port: ports[i], password: password, timeout: .seconds(5),
                                       connectTimeout: .seconds(5)))
    }

    /// Starts node `i` and waits (at most 10 s) until it answers PING.
    func start(_ i: Int) throws {
        let nodeDir = dir.sub("node\(i)")
        try FileManager.default.createDirectory(atPath: nodeDir, withIntermediateDirectories: true)
        var arguments = ["python3", ServerProcess.serversDirectory + "/guard.py", "\(getpid())", nodeDir + "/redis.log", "--",
                         "redis-server", "--port", "\(ports[i])", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--dir", nodeDir, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                         "--cluster-node-timeout", "5000", "--cluster-require-full-coverage", "no"]
        if let password { arguments += ["--requirepass", password, "--masterauth", password] }
        let process = try ServerProcess(arguments)
        lock.withLock { servers[i] = process }
        let client = direct(i)
        let deadline = Date().addingTimeInterval(10)
        while (try? client.ping()) == nil {
            guard Date() < deadline, process.process.isRunning else { throw POSIXError(.ETIMEDOUT) }
            usleep(20_000)
        }
    }

    /// Kills node `i` (SIGTERM to its guard, which kills the server).
    func stop(_ i: Int) {
        let process = lock.withLock { () -> ServerProcess? in
            defer { servers[i] = nil }
            return servers[i]
        }
        process?.stop()
    }

    func stop() { for i in 0..<3 { stop(i) } }

    /// Assigns the slots (`redis-cli --cluster create`) and waits (at most 30 s) until every node
    /// reports `cluster_state:ok` and the same slot map.
    private func create() throws {
        let cli = Process()
        cli.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cli.arguments = ["redis-cli"] + (password.map { ["-a", $0, "--no-auth-warning"] } ?? []) + ["--cluster", "create"]
            + ports.map { "127.0.0.1:\($0)" } + ["--cluster-replicas", "0", "--cluster-yes"]
        cli.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        cli.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try cli.run()
        let deadline = Date().addingTimeInterval(30)
        while cli.isRunning && Date() < deadline { usleep(20_000) }
        if cli.isRunning { cli.terminate() }
        cli.waitUntilExit()
        guard cli.terminationStatus == 0 else { throw POSIXError(.EPROTO) }
        try waitUntilHealthy(deadline: deadline)
    }

    /// Waits until every running node reports `cluster_state:ok`.
    func waitUntilHealthy(deadline: Date = Date().addingTimeInterval(30)) throws {
        for i in 0..<3 where lock.withLock({ servers[i] != nil }) {
            let client = direct(i)
            while true {
                if case .bulk(let info?)? = try? client.command([Array("CLUSTER".utf8), Array("INFO".utf8)]),
                   String(decoding: info, as: UTF8.self).contains("cluster_state:ok") { break }
                guard Date() < deadline else { throw POSIXError(.ETIMEDOUT) }
                usleep(50_000)
            }
        }
    }

    /// Node `i`'s cluster id.
    func id(_ i: Int) throws -> String {
        guard case .bulk(let id?) = try direct(i).command([Array("CLUSTER".utf8), Array("MYID".utf8)]) else {
            throw POSIXError(.EPROTO)
        }
        return String(decoding: id, as: UTF8.self)
    }
}
