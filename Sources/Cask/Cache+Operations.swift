#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CaskStore

/// A value with the metadata stored beside it.
public struct CacheEntry<Value> {
    /// The stored value.
    public var value: Value
    /// When the entry expires (seconds since the epoch), or nil for never.
    public var expireTime: Double?
    /// The entry's tag, if it has one.
    public var tag: String?
    /// When the entry was stored (seconds since the epoch).
    public var storeTime: Double
}

extension CacheEntry: Sendable where Value: Sendable {}
extension CacheEntry: Equatable where Value: Equatable {}

extension Cache {
    // MARK: Reading

    /// The bytes stored under `key`, or nil if it is absent or expired.
    /// - Throws: `.typeMismatch` if the value was not stored as bytes.
    @inlinable
    public func get(_ key: some CacheKey) throws -> [UInt8]? {
        // The closure holds the cache unretained (it is alive for the whole call): captured
        // strongly, it cost a retain and a release on every get.
        let cache = Unmanaged.passUnretained(self)
        return try key.withCacheKeyBytes { k in try cache._withUnsafeGuaranteedRef { try $0.bytes(canonicalKey: k) } }
    }

    /// ``get(_:)`` for canonical key bytes: the non-generic hot path.
    @usableFromInline
    func bytes(canonicalKey k: UnsafeRawBufferPointer) throws -> [UInt8]? {
        // Fast path: plain inline bytes are copied out directly; anything else takes the general one.
        switch try store.readValue(k, ifFlags: ValueEncoding.bytes.flags, now: readTime) {
        case .absent: return nil
        case .value(let bytes): return bytes
        case .other: return try entry(canonicalKey: Array(k), as: [UInt8].self)?.value
        }
    }

    /// The value stored under `key`, decoded as `type`, or nil if absent or expired.
    /// - Throws: `.typeMismatch` if the stored value is not a `type`.
    public func get<V: Decodable>(_ key: some CacheKey, as type: V.Type = V.self) throws -> V? {
        try entry(key, as: type)?.value
    }

    /// The value stored under `key`, or `defaultValue` if absent or expired.
    public func get<V: Decodable>(_ key: some CacheKey, default defaultValue: V) throws -> V {
        try get(key, as: V.self) ?? defaultValue
    }

    /// The value with its expire time, tag and store time.
    public func entry<V: Decodable>(_ key: some CacheKey, as type: V.Type = V.self) throws -> CacheEntry<V>? {
        try entry(canonicalKey: key.cacheKeyBytes, as: type)
    }

    func entry<V: Decodable>(canonicalKey k: [UInt8], as type: V.Type) throws -> CacheEntry<V>? {
        guard let (stored, expire, tag, storedAt) = try storedEntry(k) else { return nil }
        let (encoding, bytes) = try materialize(stored)
        let value = try ValueCodec.decode(type, encoding: encoding, bytes: bytes, coder: coder)
        return CacheEntry(value, expire: expire, tag: tag, storeTime: storedAt)
    }

    /// The stored value of `k` with its expire time, tag and store time. A value file is opened
    /// while its record is current, so a concurrent overwrite never makes it vanish. `now` (µs since
    /// the epoch; ``readTime`` by default) decides expiry; a caller that has read the clock already
    /// passes its reading. Without `withTag` the tag is left empty (not copied out).
    func storedEntry(_ k: [UInt8], now: Int64? = nil, withTag: Bool = true) throws
        -> (Stored, expire: Int64, tag: [UInt8], storeTime: Int64)? {
        let now = now ?? readTime
        // Through the engine's non-generic `visit`: a generic call across the module boundary
        // would instantiate the result's type metadata on every memoized hit.
        var entry: (Stored, expire: Int64, tag: [UInt8], storeTime: Int64)?
        _ = try k.withUnsafeBytes { kb in
            try store.visit(kb, now: now) { v, file in
                entry = (try Cache.capture(v, file), v.expireTime, withTag ? Array(v.tag) : [], v.storeTime)
            }
        }
        return entry
    }

    /// True if `key` is present and not expired.
    public func contains(_ key: some CacheKey) throws -> Bool {
        try key.cacheKeyBytes.withUnsafeBytes { k in try store.read(k, now: readTime) { _ in true } } ?? false
    }

    /// The value stored under `key` (bytes), read through the subscript. There is no setter:
    /// a setter cannot report a full disk; use ``set(_:_:expire:tag:)-(_,[UInt8],_,_)``.
    public subscript(key: some CacheKey) -> [UInt8]? {
        get throws { try get(key) }
    }

    // MARK: Writing

    /// Stores `value` under `key`.
    /// - Parameters:
    ///   - key: The key to store under.
    ///   - value: The bytes to store.
    ///   - expire: Time to live; nil for never.
    ///   - tag: A tag for ``evict(tag:)``.
    /// - Throws: `.invalidArgument` for oversized keys/tags, `.io` (e.g. `isDiskFull`) — nothing
    ///   stored before is lost.
    @inlinable
    public func set(_ key: some CacheKey, _ value: [UInt8], expire: Expiry? = nil, tag: String? = nil) throws {
        try key.withCacheKeyBytes { try storeBytes($0, value, expire: expire, tag: tag) }
    }

    /// ``set(_:_:expire:tag:)-(_,[UInt8],_,_)`` for canonical key bytes: the non-generic hot path.
    /// Bytes that are neither compressed nor put in a value file (what ``prepare(_:_:)`` would
    /// decide) go to the engine from the caller's memory, with no key or tag array made.
    @usableFromInline
    func storeBytes(_ key: UnsafeRawBufferPointer, _ value: [UInt8], expire: Expiry?, tag: String?) throws {
        let c = configuration
        guard !(c.compressionLevel > 0 && value.count >= c.compressionMinSize) && value.count < c.minFileSize else {
            return try store(Array(key), .bytes, value, expire: expire, tag: tag)
        }
        let t = now
        let exp = try expireTime(expire, now: t)
        try value.withUnsafeBytes { v in
            guard var tag else {
                return try store.put(key, v, expireTime: exp, flags: ValueEncoding.bytes.flags, now: t)
            }
            try tag.withUTF8 { try store.put(key, v, tag: UnsafeRawBufferPointer($0), expireTime: exp, flags: ValueEncoding.bytes.flags, now: t) }
        }
    }

    /// Stores any `Encodable` value (bytes, strings, integers and doubles natively; others with the coder).
    public func set<V: Encodable>(_ key: some CacheKey, _ value: V, expire: Expiry? = nil, tag: String? = nil) throws {
        let (encoding, bytes) = try ValueCodec.encode(value, coder: coder)
        try store(key.cacheKeyBytes, encoding, bytes, expire: expire, tag: tag)
    }

    func store(_ key: [UInt8], _ encoding: ValueEncoding, _ bytes: [UInt8], expire: Expiry?, tag: String?) throws {
        let t = now
        let exp = try expireTime(expire, now: t)
        let prepared = try prepare(encoding, bytes)
        defer { prepared.file?.discard() }
        let tagBytes = Array((tag ?? "").utf8)
        if prepared.file == nil {
            try store.put(key, prepared.payload, tag: tagBytes, expireTime: exp, flags: prepared.flags, now: t)
        } else {
            try store.mutate(key, now: t) { _ in (prepared.mutation(tag: tagBytes, expireTime: exp), ()) }
        }
    }

    /// Stores `value` only if `key` is absent or expired (atomic across processes).
    /// - Returns: True if it was stored.
    @discardableResult
    public func add<V: Encodable>(_ key: some CacheKey, _ value: V, expire: Expiry? = nil, tag: String? = nil) throws -> Bool {
        let (encoding, bytes) = try ValueCodec.encode(value, coder: coder)
        let t = now
        let exp = try expireTime(expire, now: t)
        let prepared = try prepare(encoding, bytes)
        defer { prepared.file?.discard() }
        let write = prepared.mutation(tag: Array((tag ?? "").utf8), expireTime: exp)
        return try store.mutate(key.cacheKeyBytes, now: t) { current in current == nil ? (write, true) : (.keep, false) }
    }

    /// Deletes `key`. Returns true if it was present and not expired.
    @discardableResult
    @inlinable
    public func delete(_ key: some CacheKey) throws -> Bool {
        try delete(canonicalKey: key.cacheKeyBytes)
    }

    /// ``delete(_:)`` for canonical key bytes.
    @usableFromInline
    func delete(canonicalKey k: [UInt8]) throws -> Bool {
        try store.mutate(k, now: now) { current in (.delete, current != nil) }
    }

    /// Removes `key` and returns its value (atomic: of two concurrent pops, one gets the value).
    /// The value is read and decoded before the entry is removed: if that throws (wrong type, an
    /// unreadable value file), the entry stays. ``popEntry(_:as:)`` returns its metadata too.
    public func pop<V: Decodable>(_ key: some CacheKey, as type: V.Type = V.self) throws -> V? {
        try popEntry(key, as: type)?.value
    }

    /// Decodes the value of a record seen under a write lock (a transaction, or a mutate's decide).
    func decode<V: Decodable>(_ view: RecordView, as type: V.Type) throws -> V {
        let file = view.flags & RecordFlags.valueInFile.rawValue != 0 ? try store.openValueFile(view) : nil
        let (encoding, bytes) = try materialize(try Cache.capture(view, file))
        return try ValueCodec.decode(type, encoding: encoding, bytes: bytes, coder: coder)
    }

    /// Removes `key` and returns its bytes.
    public func pop(_ key: some CacheKey) throws -> [UInt8]? { try pop(key, as: [UInt8].self) }

    /// Gives a live `key` a new expiry (nil: never expires). Returns false if absent or expired.
    @discardableResult
    public func touch(_ key: some CacheKey, expire: Expiry?) throws -> Bool {
        let t = now
        return try store.touch(key.cacheKeyBytes, expireTime: expire == nil ? 0 : expireTime(expire, now: t), now: t)
    }

    /// Adds `delta` to the integer stored under `key`, atomically across threads and processes,
    /// and returns the new value. A missing or expired key starts from `defaultValue`; with a nil
    /// default it throws `.notFound` (as diskcache raises KeyError). The entry keeps its expiry and tag.
    /// - Throws: `.typeMismatch` if the stored value is not an integer; `.invalidArgument` on overflow.
    @discardableResult
    public func incr(_ key: some CacheKey, by delta: Int64 = 1, default defaultValue: Int64? = 0) throws -> Int64 {
        let k = key.cacheKeyBytes
        return try store.mutate(k, now: now) { current -> (Mutation, Int64) in
            let start: Int64
            var tag: [UInt8] = []
            var expire: Int64 = 0
            if let current {
                guard ValueEncoding(flags: current.flags) == .integer,
                      current.flags & (RecordFlags.valueInFile.rawValue | RecordFlags.compressed.rawValue) == 0,
                      current.value.count == 8 else {
                    throw CaskError(.typeMismatch, "incr on a value that is not an integer")
                }
                start = ValueCodec.int64(Array(current.value))
                tag = Array(current.tag)
                expire = current.expireTime
            } else {
                guard let defaultValue else { throw CaskError(.notFound, "incr of a missing key without a default") }
                start = defaultValue
            }
            let (result, overflow) = start.addingReportingOverflow(delta)
            if overflow { throw CaskError(.invalidArgument, "incr overflows Int64") }
            return (.put(value: ValueCodec.le(result), tag: tag, expireTime: expire, flags: ValueEncoding.integer.flags), result)
        }
    }

    /// Subtracts `delta`; see ``incr(_:by:default:)``.
    @discardableResult
    public func decr(_ key: some CacheKey, by delta: Int64 = 1, default defaultValue: Int64? = 0) throws -> Int64 {
        guard delta != .min else { throw CaskError(.invalidArgument, "decr by Int64.min overflows") }
        return try incr(key, by: -delta, default: defaultValue)
    }

    /// Number of entries (expired ones not yet removed included, as diskcache counts). The cache's
    /// own bookkeeping records (queue bounds, collection counters) are not entries.
    public var count: Int { get throws { try store.count } }

    /// Bytes the cache occupies on disk: log segments plus value files.
    public func volume() throws -> Int {
        try store.statistics().reduce(0) { $0 + $1.logBytes + $1.valueFileBytes }
    }
}


/// A stored value in whatever representation it was stored with (for tools that do not know the
/// type in advance, such as the command-line tool).
public enum StoredValue: Sendable, Equatable {
    case bytes([UInt8])
    case string(String)
    case integer(Int64)
    case double(Double)
    /// Encoded by the cache's coder (JSON by default).
    case coded([UInt8])

    /// The value as bytes: raw bytes, UTF-8 text, decimal digits, or the coder's bytes.
    public var renderedBytes: [UInt8] {
        switch self {
        case .bytes(let b), .coded(let b): b
        case .string(let s): Array(s.utf8)
        case .integer(let n): Array(String(n).utf8)
        case .double(let d): Array("\(d)".utf8)
        }
    }

    /// The name of the representation ("bytes", "string", "integer", "double", "coded").
    public var typeName: String {
        switch self {
        case .bytes: "bytes"
        case .string: "string"
        case .integer: "integer"
        case .double: "double"
        case .coded: "coded"
        }
    }
}

extension Cache {
    /// The value of `key` as stored, with its metadata, whatever its type.
    public func storedValue(_ key: some CacheKey) throws -> CacheEntry<StoredValue>? {
        try storedValue(rawKey: key.cacheKeyBytes)
    }

    /// ``storedValue(_:)`` for a key given as its canonical bytes (``StoredKey`` listings).
    public func storedValue(rawKey k: [UInt8]) throws -> CacheEntry<StoredValue>? {
        guard let (stored, expire, tag, storedAt) = try storedEntry(k) else { return nil }
        let (encoding, bytes) = try materialize(stored)
        let value: StoredValue
        switch encoding {
        case .bytes: value = .bytes(bytes)
        case .string: value = .string(String(decoding: bytes, as: UTF8.self))
        case .integer: value = .integer(bytes.count == 8 ? ValueCodec.int64(bytes) : 0)
        case .double: value = .double(bytes.count == 8 ? Double(bitPattern: UInt64(bitPattern: ValueCodec.int64(bytes))) : 0)
        case .coded: value = .coded(bytes)
        }
        return CacheEntry(value, expire: expire, tag: tag, storeTime: storedAt)
    }

    /// Stores a value in the given representation under a key given as canonical bytes (import).
    public func setStored(rawKey k: [UInt8], _ value: StoredValue, expire: Expiry? = nil, tag: String? = nil) throws {
        switch value {
        case .bytes(let b): try store(k, .bytes, b, expire: expire, tag: tag)
        case .string(let s): try store(k, .string, Array(s.utf8), expire: expire, tag: tag)
        case .integer(let n): try store(k, .integer, ValueCodec.le(n), expire: expire, tag: tag)
        case .double(let d): try store(k, .double, ValueCodec.le(Int64(bitPattern: d.bitPattern)), expire: expire, tag: tag)
        case .coded(let b): try store(k, .coded, b, expire: expire, tag: tag)
        }
    }
}
