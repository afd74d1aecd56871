#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Store {
    // MARK: Reads

    /// Calls `body` with the live record of `key` (not expired at `now`, µs since the epoch; nil,
    /// the default, reads the wall clock, and only when the entry found can expire). The view is
    /// only valid inside `body`. Inside a transaction of this store, reads through it.
    @inline(__always)
    public func read<R>(_ key: UnsafeRawBufferPointer, now: Int64? = nil,
                        _ body: (RecordView) throws -> R) throws -> R? {
        if let tx = try joinedTransaction() { return try tx.read(Array(key), body) }
        let hash = KeyHash.hash(key)
        return try withShard(for: hash) { try $0.read(key: key, hash: hash, now: now, body) }
    }

    /// What ``readValue(_:ifFlags:now:)`` found.
    package enum ValueRead {
        /// No live record.
        case absent
        /// The value, copied out: the record's flags were the ones asked for.
        case value([UInt8])
        /// A live record with other flags (encoded, compressed, in a value file).
        case other
    }

    /// The value of `key` copied out if its record's flags are exactly `flags` (any flags when
    /// nil): `Store.get`, and the typed layer's hot path, specialized here rather than through the
    /// generic ``read(_:now:_:)`` across the module boundary. `now` as in ``read(_:now:_:)``.
    package func readValue(_ key: UnsafeRawBufferPointer, ifFlags flags: UInt8?, now: Int64?) throws -> ValueRead {
        if let tx = try joinedTransaction() {
            return try tx.read(Array(key)) { v in flags == nil || v.flags == flags ? .value(Array(v.value)) : .other } ?? .absent
        }
        let hash = KeyHash.hash(key)
        return try withShard(for: hash) { try $0.copyValue(key: key, hash: hash, now: now, ifFlags: flags) }
    }

    /// The value of `key`, or nil if it is absent or expired (at `now`, as in ``read(_:now:_:)``).
    public func get(_ key: [UInt8], now: Int64? = nil) throws -> [UInt8]? {
        guard case .value(let v) = try key.withUnsafeBytes({ try readValue($0, ifFlags: nil, now: now) }) else { return nil }
        return v
    }

    /// Like ``read(_:now:_:)``, and for a record whose value is in a value file, also hands `body`
    /// the file, opened while the record was current: a reader racing a writer that replaces or
    /// removes the entry sees the old value or the new one, never a missing file.
    /// - Throws: `.corrupted` if the value file of a record that stays current is missing.
    package func fetch<R>(_ key: UnsafeRawBufferPointer, now: Int64? = nil,
                          _ body: (RecordView, ValueFileReader?) throws -> R) throws -> R? {
        var result: R?
        guard try visit(key, now: now, { v, f in result = try body(v, f) }) else { return nil }
        return result
    }

    /// ``fetch(_:now:_:)`` without a result type: true if `body` ran. Not generic, so that a caller
    /// in another module (the typed layer, on every memoized hit) does not instantiate type
    /// metadata per call, as an unspecialized generic does.
    package func visit(_ key: UnsafeRawBufferPointer, now: Int64? = nil,
                       _ body: (RecordView, ValueFileReader?) throws -> Void) throws -> Bool {
        if let tx = try joinedTransaction() { return try tx.fetch(Array(key), body) != nil }
        var missing: UInt64?
        for _ in 0..<64 {
            var gone: UInt64?
            let found: Bool? = try read(key, now: now) { (v) throws -> Bool in
                guard v.flags & RecordFlags.valueInFile.rawValue != 0 else {
                    try body(v, nil)
                    return true
                }
                let file: ValueFileReader
                do {
                    file = try valueFiles.open(recordValue: v.value)
                } catch let error as CaskError where error.errno == ENOENT {
                    // Files are unlinked only after the record dropping them is published, so a
                    // second look sees that record, unless the file is really lost.
                    guard missing != v.sequence else {
                        throw CaskError(.corrupted, "the value file of this entry is missing", path: error.path)
                    }
                    gone = v.sequence
                    return false
                }
                try body(v, file)
                return true
            }
            guard let found else { return false }
            guard gone != nil else { return found }
            missing = gone
        }
        throw CaskError(.io, "the entry kept being replaced while it was read", path: directory, errno: EAGAIN)
    }

    /// Opens the value file named by `view`, a record seen under a write lock (a transaction or the
    /// `decide` of ``mutate(_:now:_:)``), where no writer can remove it meanwhile.
    package func openValueFile(_ view: RecordView) throws -> ValueFileReader {
        try valueFiles.open(recordValue: view.value)
    }

    /// Writes a value file for a later ``Mutation/putFile(_:tag:expireTime:flags:)``: chunks from
    /// `next` until it returns nil. Durable before it returns, per the durability mode.
    package func writeValueFile(compressed: Bool, _ next: () throws -> [UInt8]?) throws -> NewValueFile {
        try valueFiles.write(compressed: compressed, next)
    }

    /// Reads several keys, taking each shard's mutex once. `body` gets each key's index in `keys`.
    public func readMany(_ keys: [[UInt8]], now: Int64 = wallClockMicros(), _ body: (Int, RecordView?) throws -> Void) throws {
        if let tx = try joinedTransaction() {
            for (i, k) in keys.enumerated() { if try tx.read(k, { try body(i, $0) }) == nil { try body(i, nil) } }
            return
        }
        for (shard, group) in groupByShard(keys) { try shards[shard].readMany(keys: group, now: now, body) }
    }

    /// ``readMany(_:now:_:)`` that also opens value files, as ``fetch(_:now:_:)`` does.
    package func fetchMany(_ keys: [[UInt8]], now: Int64 = wallClockMicros(),
                           _ body: (Int, RecordView?, ValueFileReader?) throws -> Void) throws {
        var again: [Int] = []
        try readMany(keys, now: now) { i, view in
            guard let view, view.flags & RecordFlags.valueInFile.rawValue != 0 else { return try body(i, view, nil) }
            let file: ValueFileReader
            do {
                file = try openValueFile(view)
            } catch let error as CaskError where error.errno == ENOENT {
                again.append(i)  // replaced meanwhile: read it again on its own
                return
            }
            try body(i, view, file)
        }
        for i in again {
            let seen: Void? = try keys[i].withUnsafeBytes { k in try fetch(k, now: now) { v, f in try body(i, v, f) } }
            if seen == nil { try body(i, nil, nil) }
        }
    }
}
