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
    /// Stores `bytes` under `key`, kept `expireMillis` milliseconds (nil: until removed). `tag`,
    /// the entry's tag, lets ``removeTagged(_:)`` find it.
    func write(_ key: [UInt8], _ bytes: [UInt8], expireMillis: Int64?, tag: String?) throws
    /// Removes the entry under `key` (no error if there is none); whether there was one.
    @discardableResult
    func remove(_ key: [UInt8]) throws -> Bool
    /// A cheap call that succeeds only if the tier answers (the circuit breaker's probe).
    func probe() throws
    /// Takes the lease on `key` for `token` for `millis` milliseconds unless it is held; whether
    /// it was taken.
    func acquireLease(_ key: [UInt8], token: [UInt8], millis: Int64) throws -> Bool
    /// Removes the lease on `key` if `token` holds it.
    func releaseLease(_ key: [UInt8], token: [UInt8]) throws
    /// The entries under `keys`, in order (nil where none); one round trip where the store allows.
    func read(many keys: [[UInt8]]) throws -> [SharedRecord?]
    /// Stores every entry of `entries`; one round trip where the store allows.
    func write(many entries: [SharedWrite]) throws
    /// Removes every entry whose tag is `tag`; how many.
    func removeTagged(_ tag: String) throws -> Int
    /// Removes every entry of this tier (of its caches, not other users of the store); how many.
    func removeAll() throws -> Int
    /// Removes every entry whose key starts with `keyPrefix`; how many.
    func removeAll(withKeyPrefix keyPrefix: [UInt8]) throws -> Int
}

/// One entry of ``SharedTier/write(many:)``.
public struct SharedWrite: Sendable, Equatable {
    public var key: [UInt8]
    public var bytes: [UInt8]
    public var expireMillis: Int64?
    public var tag: String?

    public init(key: [UInt8], bytes: [UInt8], expireMillis: Int64?, tag: String?) {
        self.key = key
        self.bytes = bytes
        self.expireMillis = expireMillis
        self.tag = tag
    }
}

extension SharedTier {
    /// One ``read(_:)`` per key (for tiers without batches).
    public func read(many keys: [[UInt8]]) throws -> [SharedRecord?] { try keys.map { try read($0) } }

    /// One ``write(_:_:expireMillis:tag:)`` per entry (for tiers without batches).
    public func write(many entries: [SharedWrite]) throws {
        for e in entries { try write(e.key, e.bytes, expireMillis: e.expireMillis, tag: e.tag) }
    }
}
