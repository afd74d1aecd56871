import Dispatch

/// Where a Redis server is and how to talk to it.
public struct RedisConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// ACL user name (Redis 6+); nil authenticates with the password alone (`requirepass`).
    public var user: String?
    public var password: String?
    /// The database `SELECT`ed after connecting (0, the default, sends nothing).
    public var database: Int
    /// How long one call (its commands, pipelined, and any reconnection it needs) may take.
    public var timeout: Duration
    /// How long making a connection (with AUTH) may take, within the call's own timeout.
    public var connectTimeout: Duration
    /// TLS for the connection (`rediss://`); nil: plain TCP.
    public var tls: RedisTLS?

    public init(host: String = "127.0.0.1", port: Int = 6379, user: String? = nil, password: String? = nil,
                database: Int = 0, timeout: Duration = .milliseconds(50), connectTimeout: Duration = .milliseconds(50)) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.timeout = timeout
        self.connectTimeout = connectTimeout
    }

    /// `redis://[[user]:password@]host[:port][/database]`, or `rediss://…` for TLS, which may end
    /// in `?ca=PATH` (percent-encoded), a PEM file of the authorities to trust instead of the system's.
    /// - Throws: ``RedisError/protocolError(_:)`` for another scheme or a malformed address.
    public init(url: String) throws(RedisError) {
        self.init()
        let scheme: String
        if url.hasPrefix("redis://") {
            scheme = "redis://"
        } else if url.hasPrefix("rediss://") {
            scheme = "rediss://"
            tls = RedisTLS()
        } else {
            throw .protocolError("not a redis:// or rediss:// URL: \(url)")
        }
        var rest = Substring(url.dropFirst(scheme.count))
        if let question = rest.firstIndex(of: "?") {
            for item in rest[rest.index(after: question)...].split(separator: "&") {
                guard item.hasPrefix("ca="), tls != nil, item.count > 3 else {
                    throw .protocolError("unknown or misplaced parameter \(item) in \(url) (rediss:// takes ca=PATH)")
                }
                tls?.caCertificatePath = Self.unescape(item.dropFirst(3))
            }
            rest = rest[..<question]
        }
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            if !path.isEmpty {
                guard let db = Int(path), db >= 0 else { throw .protocolError("bad database in \(url)") }
                database = db
            }
            rest = rest[..<slash]
        }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let name = credentials[..<colon]
                user = name.isEmpty ? nil : Self.unescape(name)
                password = Self.unescape(credentials[credentials.index(after: colon)...])
            } else {
                password = Self.unescape(credentials)
            }
        }
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65_535).contains(p) else {
                throw .protocolError("bad port in \(url)")
            }
            port = p
            rest = rest[..<colon]
        }
        if rest.hasPrefix("[") && rest.hasSuffix("]") { rest = rest.dropFirst().dropLast() }
        guard !rest.isEmpty else { throw .protocolError("no host in \(url)") }
        host = String(rest)
    }

    /// Undoes %XX escapes (a password may hold `@` or `:`).
    private static func unescape(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let b = utf8.popFirst() {
            if b == UInt8(ascii: "%"), utf8.count >= 2,
               let v = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(v)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A small blocking Redis client (RESP2 over one TCP connection). Calls take turns on the
/// connection; each is bounded by the configuration's timeout, the wait for its turn included.
/// After a failure the connection is dropped and the next call connects again.
public final class RedisClient: Sendable {
    public let configuration: RedisConfiguration
    /// Taken (with the call's deadline) to use `slot`.
    private let turn = DispatchSemaphore(value: 1)
    private let slot = ConnectionSlot()

    private struct Connection {
        var transport: any RedisTransport
        var decoder = RESPDecoder()
    }

    /// The open connection, if any; read and written only by the holder of `turn`.
    private final class ConnectionSlot: @unchecked Sendable {
        // @unchecked: guarded by the client's `turn` semaphore.
        var connection: Connection?
    }

    public init(_ configuration: RedisConfiguration) {
        self.configuration = configuration
    }

    /// Sends `commands` in one write and returns their replies in order (pipelining). Server error
    /// replies come back as ``RESPValue/error(_:)``; the connection stays usable after them.
    /// - Throws: ``RedisError`` — `.timeout`, `.connection` (the connection is then dropped).
    public func pipeline(_ commands: [[[UInt8]]]) throws(RedisError) -> [RESPValue] {
        try pipeline(commands, deadline: ContinuousClock.now + configuration.timeout)
    }

    /// ``pipeline(_:)`` bounded by `deadline` instead of the configuration's timeout (a cluster
    /// call spends one deadline across redirects and nodes).
    func pipeline(_ commands: [[[UInt8]]], deadline: ContinuousClock.Instant) throws(RedisError) -> [RESPValue] {
        guard semaphoreWait(turn, until: deadline) else {
            throw .timeout   // the calls before this one held the connection until its deadline
        }
        defer { turn.signal() }
        var current: Connection
        if let open = slot.connection.take() {
            current = open
        } else {
            current = try connect(deadline: deadline)
        }
        let replies = try exchange(commands, on: &current, deadline: deadline)
        slot.connection = consume current
        return replies
    }

    /// Sends one command and returns its reply.
    /// - Throws: ``RedisError/server(_:)`` for an error reply, besides the failures of ``pipeline(_:)``.
    public func command(_ arguments: [[UInt8]]) throws(RedisError) -> RESPValue {
        let reply = try pipeline([arguments])[0]
        if case .error(let message) = reply { throw .server(message) }
        return reply
    }

    /// Closes the connection (the next call opens a new one).
    public func disconnect() {
        turn.wait()
        slot.connection = nil
        turn.signal()
    }

    // MARK: Commands

    public func ping() throws(RedisError) {
        guard case .simple("PONG") = try command([Array("PING".utf8)]) else { throw .protocolError("PING") }
    }

    public func get(_ key: [UInt8]) throws(RedisError) -> [UInt8]? {
        guard case .bulk(let value) = try command([Array("GET".utf8), key]) else { throw .protocolError("GET") }
        return value
    }

    /// SET, with PX when `expireMillis` is given.
    public func set(_ key: [UInt8], _ value: [UInt8], expireMillis: Int64? = nil) throws(RedisError) {
        guard case .simple = try command(Self.setCommand(key, value, expireMillis: expireMillis)) else {
            throw .protocolError("SET")
        }
    }

    /// DEL; the number of keys removed.
    @discardableResult
    public func delete(_ keys: [[UInt8]]) throws(RedisError) -> Int64 {
        guard case .integer(let n) = try command([Array("DEL".utf8)] + keys) else { throw .protocolError("DEL") }
        return n
    }

    /// PEXPIRE; whether the key exists.
    @discardableResult
    public func expire(_ key: [UInt8], millis: Int64) throws(RedisError) -> Bool {
        guard case .integer(let n) = try command([Array("PEXPIRE".utf8), key, Array(String(millis).utf8)]) else {
            throw .protocolError("PEXPIRE")
        }
        return n == 1
    }

    static func setCommand(_ key: [UInt8], _ value: [UInt8], expireMillis: Int64?) -> [[UInt8]] {
        var command = [Array("SET".utf8), key, value]
        if let expireMillis { command += [Array("PX".utf8), Array(String(max(expireMillis, 1)).utf8)] }
        return command
    }

    // MARK: Connection

    private func connect(deadline: ContinuousClock.Instant) throws(RedisError) -> Connection {
        let connectDeadline = min(deadline, ContinuousClock.now + configuration.connectTimeout)
        let transport: any RedisTransport = if let tls = configuration.tls {
            try TLSTransport(host: configuration.host, port: configuration.port, tls: tls, deadline: connectDeadline)
        } else {
            try RedisSocket(host: configuration.host, port: configuration.port, deadline: connectDeadline)
        }
        var opened = Connection(transport: transport)
        var setup: [[[UInt8]]] = []
        if let password = configuration.password {
            setup.append([Array("AUTH".utf8)] + (configuration.user.map { [Array($0.utf8)] } ?? []) + [Array(password.utf8)])
        }
        if configuration.database != 0 { setup.append([Array("SELECT".utf8), Array(String(configuration.database).utf8)]) }
        if !setup.isEmpty {
            for reply in try exchange(setup, on: &opened, deadline: connectDeadline) {
                if case .error(let message) = reply { throw .server(message) }
            }
        }
        return opened
    }

    private func exchange(_ commands: [[[UInt8]]], on connection: inout Connection,
                          deadline: ContinuousClock.Instant) throws(RedisError) -> [RESPValue] {
        try connection.transport.send(RESPEncoder.encode(commands), deadline: deadline)
        var replies: [RESPValue] = []
        replies.reserveCapacity(commands.count)
        while replies.count < commands.count {
            let next: RESPValue?
            do { next = try connection.decoder.next() } catch { throw .protocolError(error.message) }
            if let next {
                replies.append(next)
            } else {
                try connection.transport.receive(into: &connection.decoder, deadline: deadline)
            }
        }
        return replies
    }
}
