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
    public var leasePrefix: [UInt8] { stem + Array("-lease:".utf8) }
    /// Put before a tag's name for the set of the entry keys written with that tag (`cask-tag:`).
    public var tagPrefix: [UInt8] { stem + Array("-tag:".utf8) }
    private var stem: [UInt8] { prefix.last == UInt8(ascii: ":") ? Array(prefix.dropLast()) : prefix }

    public init(configuration: RedisConfiguration, prefix: String = "cask:") {
        connection = .standalone(RedisClient(configuration))
        self.prefix = Array(prefix.utf8)
    }

    public init(cluster: RedisClusterConfiguration, prefix: String = "cask:") {
        connection = .cluster(RedisClusterClient(cluster))
        self.prefix = Array(prefix.utf8)
    }

    /// `redis://[[user]:password@]host[:port][/database]` for a standalone server,
    /// `redis-cluster://[[user]:password@]host:port[,host:port…]` for a cluster (any of its nodes);
    /// `rediss://` and `rediss-cluster://` for the same over TLS (`?ca=PATH` to trust a PEM file's
    /// authorities instead of the system's).
    public init(url: String, timeout: Duration = .milliseconds(50), prefix: String = "cask:") throws(RedisError) {
        if url.hasPrefix("redis-cluster://") || url.hasPrefix("rediss-cluster://") {
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
        let replies = try run(Self.readCommands(k), key: k)
        return try Self.record(replies[0], replies[1])
    }

    static func readCommands(_ k: [UInt8]) -> [[[UInt8]]] { [[Array("GET".utf8), k], [Array("PTTL".utf8), k]] }

    /// The record the replies of `readCommands` describe.
    static func record(_ get: RESPValue, _ pttl: RESPValue) throws -> SharedRecord? {
        switch get {
        case .bulk(nil): return nil
        case .bulk(let bytes?):
            guard case .integer(let ttl) = pttl else { throw RedisError.protocolError("PTTL") }
            // -1: no TTL; -2: removed between the two commands (then treated as still there once).
            return SharedRecord(bytes: bytes, remainingMillis: ttl >= 0 ? ttl : nil)
        case .error(let message): throw RedisError.server(message)
        default: throw RedisError.protocolError("GET")
        }
    }

    /// `SET` (with `PX` for an expiry); with a tag, the key is also added to the tag's set, whose
    /// expiry is kept at the longest of its members' (a script: `tagScript`). On a standalone
    /// server both go in one pipeline; in a cluster the set may live on another node.
    public func write(_ key: [UInt8], _ bytes: [UInt8], expireMillis: Int64?, tag: String?) throws {
        let k = prefix + key
        let set = RedisClient.setCommand(k, bytes, expireMillis: expireMillis)
        var replies: [RESPValue]
        if let tag {
            let (s, add) = tagCommand(k, tag: tag, expireMillis: expireMillis)
            switch connection {
            case .standalone(let client): replies = try client.pipeline([set, add])
            case .cluster(let client): replies = try client.pipeline([set], key: k) + client.pipeline([add], key: s)
            }
        } else {
            replies = try run([set], key: k)
        }
        for reply in replies { if case .error(let message) = reply { throw RedisError.server(message) } }
        guard case .simple = replies[0] else { throw RedisError.protocolError("SET") }
    }

    /// The tag set's key and the script call adding `k` to it.
    func tagCommand(_ k: [UInt8], tag: String, expireMillis: Int64?) -> (set: [UInt8], command: [[UInt8]]) {
        let s = tagPrefix + Array(tag.utf8)
        return (s, [Array("EVAL".utf8), Self.tagScript, Array("1".utf8), s, k, Array(String(expireMillis.map { max($0, 1) } ?? -1).utf8)])
    }

    /// Adds ARGV[1] to the set KEYS[1] and keeps the set as long as its longest-lived member:
    /// ARGV[2] is the member's time to live in ms, -1 for none (the set then never expires).
    static let tagScript = Array("""
        local existed = redis.call("EXISTS", KEYS[1])
        redis.call("SADD", KEYS[1], ARGV[1])
        local want = tonumber(ARGV[2])
        if want < 0 then redis.call("PERSIST", KEYS[1]) return 1 end
        local ttl = redis.call("PTTL", KEYS[1])
        if existed == 0 or (ttl >= 0 and ttl < want) then redis.call("PEXPIRE", KEYS[1], want) end
        return 1
        """.utf8)

    @discardableResult
    public func remove(_ key: [UInt8]) throws -> Bool {
        let k = prefix + key
        switch try run([[Array("DEL".utf8), k]], key: k)[0] {
        case .integer(let n): return n > 0
        case .error(let message): throw RedisError.server(message)
        default: throw RedisError.protocolError("DEL")
        }
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

// MARK: Removing many entries

extension RedisTier {
    /// Walks the tag's set (`SSCAN`, 500 members a page): each member whose envelope still has
    /// this tag is deleted — only if its value is still the one read (a script compares and
    /// deletes), so an entry written again meanwhile is kept — and the set is deleted at the end.
    /// Members that expired or were written again with another tag are only dropped from the set.
    public func removeTagged(_ tag: String) throws -> Int {
        let s = tagPrefix + Array(tag.utf8)
        var cursor: [UInt8] = Array("0".utf8)
        var removed = 0
        repeat {
            let page = try run([[Array("SSCAN".utf8), s, cursor, Array("COUNT".utf8), Array("500".utf8)]], key: s)[0]
            guard case .array(let parts?) = page, parts.count == 2, case .bulk(let next?) = parts[0],
                  case .array(let members?) = parts[1] else {
                if case .error(let message) = page { throw RedisError.server(message) }
                throw RedisError.protocolError("SSCAN")
            }
            for case .bulk(let k?) in members {
                guard case .bulk(let value?) = try run([[Array("GET".utf8), k]], key: k)[0],
                      SharedEnvelope(decoding: value)?.tag == tag else { continue }
                let reply = try run([[Array("EVAL".utf8), Self.compareAndDeleteScript, Array("1".utf8), k, value]], key: k)[0]
                if case .integer(let n) = reply { removed += Int(n) }
            }
            cursor = next
        } while cursor != Array("0".utf8)
        _ = try run([[Array("DEL".utf8), s]], key: s)
        return removed
    }

    /// Deletes KEYS[1] if its value is ARGV[1]; 1 if it did.
    static let compareAndDeleteScript = Array("""
        if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0
        """.utf8)

    /// `SCAN`s every node (each master of a cluster) for the keys of this tier's entries and tag
    /// sets (1000 a page) and deletes them, one `DEL` per key, pipelined per page (a cluster
    /// refuses a multi-key `DEL` across slots). Leases are left to expire. Returns the number of
    /// entries deleted.
    public func removeAll() throws -> Int {
        try scanAndDelete([(prefix, true), (tagPrefix, false)])
    }

    /// As ``removeAll()``, for the entries whose key starts with `keyPrefix` (tag sets are kept:
    /// an evict by tag passes over members that are gone).
    public func removeAll(withKeyPrefix keyPrefix: [UInt8]) throws -> Int {
        try scanAndDelete([(prefix + keyPrefix, true)])
    }

    /// Deletes every key starting with one of `patterns`' prefixes on every node; the number
    /// deleted under the prefixes marked to count.
    private func scanAndDelete(_ patterns: [(prefix: [UInt8], counts: Bool)]) throws -> Int {
        let nodes: [RedisClient]
        switch connection {
        case .standalone(let client): nodes = [client]
        case .cluster(let client): nodes = try client.masters().map { client.connection(to: $0) }
        }
        var removed = 0
        for node in nodes {
            for (pattern, counts) in patterns {
                var cursor: [UInt8] = Array("0".utf8)
                repeat {
                    let page = try node.command([Array("SCAN".utf8), cursor, Array("MATCH".utf8), Self.glob(pattern) + [UInt8(ascii: "*")],
                                                 Array("COUNT".utf8), Array("1000".utf8)])
                    guard case .array(let parts?) = page, parts.count == 2, case .bulk(let next?) = parts[0],
                          case .array(let keys?) = parts[1] else { throw RedisError.protocolError("SCAN") }
                    let deletes = keys.compactMap { key -> [[UInt8]]? in
                        guard case .bulk(let k?) = key else { return nil }
                        return [Array("DEL".utf8), k]
                    }
                    if !deletes.isEmpty {
                        for reply in try node.pipeline(deletes) {
                            if case .error(let message) = reply { throw RedisError.server(message) }
                            if counts, case .integer(let n) = reply { removed += Int(n) }
                        }
                    }
                    cursor = next
                } while cursor != Array("0".utf8)
            }
        }
        return removed
    }

    /// `bytes` with the glob characters of `SCAN … MATCH` (`*?[]\`) escaped.
    static func glob(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for b in bytes {
            if "*?[]\\".utf8.contains(b) { out.append(UInt8(ascii: "\\")) }
            out.append(b)
        }
        return out
    }
}
