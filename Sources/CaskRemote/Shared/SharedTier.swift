/// An entry as a shared tier holds it: its envelope and how long the tier keeps it.
public struct SharedRecord: Sendable, Equatable {
    /// A ``SharedEnvelope``'s bytes.
    public var bytes: [UInt8]
    /// Milliseconds the tier still keeps the entry, or nil if it keeps it until it is removed.
    public var remainingMillis: Int64?

    public init(bytes: [UInt8], remainingMillis: Int64?) {
        self.bytes = bytes
        self.remainingMillis = remainingMillis
    }
}

/// A store that several caches share as their second tier. Keys are a cache's canonical key
/// bytes. Every call may fail or time out; ``SharedCache`` counts that and carries on locally.
public protocol SharedTier: Sendable {
    /// The entry under `key`, or nil.
    func read(_ key: [UInt8]) throws -> SharedRecord?
    /// Stores `bytes` under `key`, kept `expireMillis` milliseconds (nil: until removed).
    func write(_ key: [UInt8], _ bytes: [UInt8], expireMillis: Int64?) throws
    /// Removes the entry under `key` (no error if there is none).
    func remove(_ key: [UInt8]) throws
    /// A cheap call that succeeds only if the tier answers (the circuit breaker's probe).
    func probe() throws
    /// Takes the lease on `key` for `token` for `millis` milliseconds unless it is held; whether
    /// it was taken.
    func acquireLease(_ key: [UInt8], token: [UInt8], millis: Int64) throws -> Bool
    /// Removes the lease on `key` if `token` holds it.
    func releaseLease(_ key: [UInt8], token: [UInt8]) throws
}

/// A shared tier on Redis — one standalone server or a Redis Cluster: each entry a string key
/// (`prefix` + the canonical key bytes) holding its envelope, its expiry the key's TTL. In a
/// cluster each key lives on the node serving its slot (``RedisSlot``); the client follows the
/// cluster's redirects.
public struct RedisTier: SharedTier {
    /// What the tier talks to.
    public enum Connection: Sendable {
        case standalone(RedisClient)
        case cluster(RedisClusterClient)
    }

    public let connection: Connection
    /// Put before every key, so several caches (or other applications) can share one database.
    public let prefix: [UInt8]
    /// Put before the key of a lease: the prefix with `-lease:` in place of a final `:` (else
    /// `-lease:` appended), so a lease never has an entry's key.
    public var leasePrefix: [UInt8] {
        (prefix.last == UInt8(ascii: ":") ? Array(prefix.dropLast()) : prefix) + Array("-lease:".utf8)
    }

    public init(configuration: RedisConfiguration, prefix: String = "cask:") {
        connection = .standalone(RedisClient(configuration))
        self.prefix = Array(prefix.utf8)
    }

    public init(cluster: RedisClusterConfiguration, prefix: String = "cask:") {
        connection = .cluster(RedisClusterClient(cluster))
        self.prefix = Array(prefix.utf8)
    }

    /// `redis://[[user]:password@]host[:port][/database]` for a standalone server,
    /// `redis-cluster://[[user]:password@]host:port[,host:port…]` for a cluster (any of its nodes).
    public init(url: String, timeout: Duration = .milliseconds(50), prefix: String = "cask:") throws(RedisError) {
        if url.hasPrefix("redis-cluster://") {
            var configuration = try RedisClusterConfiguration(url: url)
            configuration.timeout = timeout
            self.init(cluster: configuration, prefix: prefix)
        } else {
            var configuration = try RedisConfiguration(url: url)
            configuration.timeout = timeout
            self.init(configuration: configuration, prefix: prefix)
        }
    }

    /// Commands on one key, pipelined, to the server (or the cluster node) that holds it.
    private func run(_ commands: [[[UInt8]]], key: [UInt8]) throws(RedisError) -> [RESPValue] {
        switch connection {
        case .standalone(let client): try client.pipeline(commands)
        case .cluster(let client): try client.pipeline(commands, key: key)
        }
    }

    /// GET and PTTL in one round trip.
    public func read(_ key: [UInt8]) throws -> SharedRecord? {
        let k = prefix + key
        let replies = try run([[Array("GET".utf8), k], [Array("PTTL".utf8), k]], key: k)
        switch replies[0] {
        case .bulk(nil): return nil
        case .bulk(let bytes?):
            guard case .integer(let ttl) = replies[1] else { throw RedisError.protocolError("PTTL") }
            // -1: no TTL; -2: removed between the two commands (then treated as still there once).
            return SharedRecord(bytes: bytes, remainingMillis: ttl >= 0 ? ttl : nil)
        case .error(let message): throw RedisError.server(message)
        default: throw RedisError.protocolError("GET")
        }
    }

    public func write(_ key: [UInt8], _ bytes: [UInt8], expireMillis: Int64?) throws {
        let k = prefix + key
        let reply = try run([RedisClient.setCommand(k, bytes, expireMillis: expireMillis)], key: k)[0]
        if case .error(let message) = reply { throw RedisError.server(message) }
        guard case .simple = reply else { throw RedisError.protocolError("SET") }
    }

    public func remove(_ key: [UInt8]) throws {
        let k = prefix + key
        let reply = try run([[Array("DEL".utf8), k]], key: k)[0]
        if case .error(let message) = reply { throw RedisError.server(message) }
    }

    /// `SET <lease key> token NX PX millis`.
    public func acquireLease(_ key: [UInt8], token: [UInt8], millis: Int64) throws -> Bool {
        let k = leasePrefix + key
        let reply = try run([[Array("SET".utf8), k, token, Array("NX".utf8), Array("PX".utf8), Array(String(max(millis, 1)).utf8)]], key: k)[0]
        switch reply {
        case .simple: return true
        case .bulk(nil): return false
        case .error(let message): throw RedisError.server(message)
        default: throw RedisError.protocolError("SET NX")
        }
    }

    /// Deletes the lease key only if it still holds `token` (a script, so the check and the
    /// delete are one step).
    public func releaseLease(_ key: [UInt8], token: [UInt8]) throws {
        let k = leasePrefix + key
        let reply = try run([[Array("EVAL".utf8), Self.releaseScript, Array("1".utf8), k, token]], key: k)[0]
        if case .error(let message) = reply { throw RedisError.server(message) }
    }

    static let releaseScript = Array("""
        if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0
        """.utf8)

    public func probe() throws {
        switch connection {
        case .standalone(let client): try client.ping()
        case .cluster(let client): try client.ping()
        }
    }
}
