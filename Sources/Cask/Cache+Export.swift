import CaskStore

/// A record of the cache's own namespace, byte for byte: an engine key whose first byte is 0x00
/// (queue head/tail records, collection counts, throttle state, memoize access records). Copying
/// a cache (`cask export | cask import`) copies these too, or queues and collections lose their
/// state.
public struct InternalRecord: Sendable, Equatable {
    /// The engine key (first byte 0x00).
    public var key: [UInt8]
    /// The record's value bytes, as stored (compressed if `flags` says so).
    public var value: [UInt8]
    /// The record flags (never "value in a file": such a value is read and given inline).
    public var flags: UInt8
    /// The record's tag bytes.
    public var tag: [UInt8]

    public init(key: [UInt8], value: [UInt8], flags: UInt8 = 0, tag: [UInt8] = []) {
        self.key = key
        self.value = value
        self.flags = flags
        self.tag = tag
    }

    /// True for an engine key of the cache's own namespace (no typed key starts with 0x00).
    public static func isInternal(_ key: [UInt8]) -> Bool { key.first == 0x00 }
}

extension Cache {
    /// The internal record under `key` and its expire time (seconds since the epoch, nil for
    /// never), or nil if absent or expired.
    /// - Throws: `.invalidArgument` if `key` is not internal.
    public func internalRecord(rawKey key: [UInt8]) throws -> (record: InternalRecord, expireTime: Double?)? {
        guard InternalRecord.isInternal(key) else {
            throw CaskError(.invalidArgument, "not a key of the cache's own namespace (first byte 0x00)")
        }
        let found = try key.withUnsafeBytes { k in
            try store.fetch(k, now: now) { v, file -> (InternalRecord, Stored?, Int64) in
                let record = InternalRecord(key: key, value: file == nil ? Array(v.value) : [], flags: v.flags, tag: Array(v.tag))
                return (record, file == nil ? nil : try Cache.capture(v, file), v.expireTime)
            }
        }
        guard let (found, stored, expire) = found else { return nil }
        var record = found
        if let stored {
            // Not written by the cache itself; give the value inline, uncompressed.
            let (encoding, bytes) = try materialize(stored)
            record.value = bytes
            record.flags = encoding.flags
        }
        return (record, expire == 0 ? nil : Double(expire) / 1e6)
    }

    /// Writes an internal record byte for byte (what `cask import` does with an exported one).
    /// - Throws: `.invalidArgument` if the key is not internal, the flags are not valid record
    ///   flags or name a value file, or the expiry is NaN or negative; engine errors.
    public func setInternalRecord(_ record: InternalRecord, expire: Expiry? = nil) throws {
        guard InternalRecord.isInternal(record.key) else {
            throw CaskError(.invalidArgument, "not a key of the cache's own namespace (first byte 0x00)")
        }
        guard record.flags & ~RecordFlags.validMask == 0, record.flags & RecordFlags.valueInFile.rawValue == 0 else {
            throw CaskError(.invalidArgument, "record flags \(record.flags) are not valid for an inline record")
        }
        let t = now
        try store.put(record.key, record.value, tag: record.tag, expireTime: try expireTime(expire, now: t), flags: record.flags, now: t)
    }
}
