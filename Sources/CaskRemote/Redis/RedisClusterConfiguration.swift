/// One Redis server: where to connect.
public struct RedisNode: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port` (an IPv6 address in brackets).
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Parses the `host:port` of a `MOVED`/`ASK` reply or a URL (`[v6]:port` too).
    init?(_ text: Substring) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65_535).contains(port) else { return nil }
        var host = text[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty else { return nil }
        self.init(host: String(host), port: port)
    }
}

/// The hash slot of a key in a Redis Cluster (0 ..< 16384): CRC16 (XMODEM: polynomial 0x1021, no
/// reflection, initial value 0) of the key, or of its hash tag — the bytes between the first `{`
/// and the first `}` after it, when there is at least one byte between them — modulo 16384.
public enum RedisSlot {
    public static let count = 16_384

    public static func of(_ key: [UInt8]) -> Int {
        var part = key[...]
        if let open = key.firstIndex(of: UInt8(ascii: "{")),
           let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            part = key[(open + 1)..<close]
        }
        return Int(crc16(part)) % count
    }

    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }
}

/// How to reach a Redis Cluster: some of its nodes (the client learns the rest), credentials
/// every node accepts, and the bound on one call.
public struct RedisClusterConfiguration: Sendable, Equatable {
    /// Nodes to ask for the cluster's slot map; any one that answers is enough.
    public var seeds: [RedisNode]
    public var user: String?
    public var password: String?
    /// How long one call may take, redirects, reconnections and a slot-map refresh included.
    public var timeout: Duration
    /// How long making one connection (with AUTH) may take, within the call's timeout.
    public var connectTimeout: Duration
    /// `MOVED`/`ASK` redirects one call follows before it fails.
    public var maxRedirects: Int
    /// TLS for every node's connection (`rediss-cluster://`); nil: plain TCP.
    public var tls: RedisTLS?

    public init(seeds: [RedisNode], user: String? = nil, password: String? = nil,
                timeout: Duration = .milliseconds(50), connectTimeout: Duration = .milliseconds(50), maxRedirects: Int = 5) {
        self.seeds = seeds
        self.user = user
        self.password = password
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.maxRedirects = max(maxRedirects, 1)
    }

    /// `redis-cluster://[[user]:password@]host:port[,host:port…]` (a cluster has no databases:
    /// a path is an error), or `rediss-cluster://…[?ca=PATH]` for TLS.
    /// - Throws: ``RedisError/protocolError(_:)`` for another scheme or a malformed address.
    public init(url: String) throws(RedisError) {
        let tlsScheme = url.hasPrefix("rediss-cluster://")
        let scheme = tlsScheme ? "rediss-cluster://" : "redis-cluster://"
        guard url.hasPrefix(scheme) else { throw .protocolError("not a redis-cluster:// URL: \(url)") }
        var rest = Substring(url.dropFirst(scheme.count))
        var query = ""
        if let question = rest.firstIndex(of: "?") {
            query = String(rest[question...])
            rest = rest[..<question]
        }
        var credentials = ""
        if let at = rest.lastIndex(of: "@") {
            credentials = String(rest[..<at]) + "@"
            rest = rest[rest.index(after: at)...]
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/") else { throw .protocolError("a cluster has no database: \(url)") }
        var seeds: [RedisNode] = []
        var first: RedisConfiguration?
        for part in rest.split(separator: ",", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { throw .protocolError("empty address in \(url)") }
            let node = try RedisConfiguration(url: (tlsScheme ? "rediss://" : "redis://") + credentials + part + query)
            guard part.hasSuffix(":\(node.port)") else { throw .protocolError("no port for \(part) in \(url)") }
            seeds.append(RedisNode(host: node.host, port: node.port))
            if first == nil { first = node }
        }
        guard let first else { throw .protocolError("no node in \(url)") }
        self.init(seeds: seeds, user: first.user, password: first.password)
        tls = first.tls
    }

    /// The configuration of a connection to `node`.
    func connection(to node: RedisNode) -> RedisConfiguration {
        var c = RedisConfiguration(host: node.host, port: node.port, user: user, password: password,
                                   timeout: timeout, connectTimeout: connectTimeout)
        c.tls = tls
        return c
    }
}
