#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCaskSupport

/// Operations applied while holding every shard's write lock: nothing else, in any thread or
/// process, sees a half-done transaction or writes in between. Writes are buffered and applied
/// when the body returns; if the body throws, none is applied. Reads see the transaction's own
/// writes. Only valid inside ``Store/transact(now:_:)``; the store's own operations called from
/// inside the body, on the body's thread, join the transaction.
public final class StoreTransaction {
    let store: Store
    let states: [UnsafeMutablePointer<ShardState>]
    package let now: Int64
    /// Buffered writes, in order of first touch.
    var pending: [[UInt8]: Mutation] = [:]
    var order: [[UInt8]] = []
    /// Expired entries deleted by the transaction, per shard (counted as expirations at commit).
    var expiredDeletes: [Int: UInt64] = [:]

    init(store: Store, states: [UnsafeMutablePointer<ShardState>], now: Int64) {
        self.store = store
        self.states = states
        self.now = now
    }

    /// Calls `body` with the record of `key` as the transaction sees it, or returns nil.
    public func read<R>(_ key: [UInt8], _ body: (RecordView) throws -> R) throws -> R? {
        let hash = KeyHash.hash(key)
        let i = store.shardNumber(hash: hash)
        return try key.withUnsafeBytes { k in
            let stored = try store.shards[i].lookup(&states[i].pointee, key: k, hash: hash, now: now, verify: true)
            switch pending[key] {
            case nil, .keep?:
                return try stored.map(body)
            case .delete?:
                return nil
            case .touch(let expire)?:
                guard let v = stored, expire == 0 || expire > now else { return nil }
                return try body(v.with(expireTime: expire))
            case .put(let value, let tag, let expire, let flags)?:
                return try pendingView(k, value: value, tag: tag, expire: expire, flags: flags, body)
            case .putFile(let file, let tag, let expire, let flags)?:
                return try pendingView(k, value: file.reference.encoded, tag: tag, expire: expire,
                                       flags: flags | RecordFlags.valueInFile.rawValue, body)
            }
        }
    }

    private func pendingView<R>(_ k: UnsafeRawBufferPointer, value: [UInt8], tag: [UInt8], expire: Int64, flags: UInt8,
                                _ body: (RecordView) throws -> R) throws -> R? {
        guard expire == 0 || expire > now else { return nil }
        return try value.withUnsafeBytes { v in
            try tag.withUnsafeBytes { t in
                try body(RecordView(flags: flags, sequence: UInt64.max, storeTime: now, expireTime: expire,
                                    key: k, tag: t, value: v, position: LogPosition(segment: .max, offset: .max)))
            }
        }
    }

    /// ``read(_:_:)`` that also opens the value file of a record whose value is in one (no writer
    /// can remove it while the transaction holds the locks).
    public func fetch<R>(_ key: [UInt8], _ body: (RecordView, ValueFileReader?) throws -> R) throws -> R? {
        try read(key) { v in
            try body(v, v.flags & RecordFlags.valueInFile.rawValue != 0 ? try store.openValueFile(v) : nil)
        }
    }

    /// Deletes `key` if its entry has expired (and the transaction has not written it), counting an
    /// expiration. Returns true if it did.
    @discardableResult
    public func deleteIfExpired(_ key: [UInt8]) throws -> Bool {
        guard pending[key] == nil else { return false }
        let hash = KeyHash.hash(key)
        let i = store.shardNumber(hash: hash)
        let expired = key.withUnsafeBytes { k in
            let segs = states[i].pointee.view
            guard let e = states[i].pointee.directory.find(hash: hash, key: k, matches: { segs.keyMatches($0, k) }) else { return false }
            return e.isExpired(at: now)
        }
        guard expired else { return false }
        record(key, .delete)
        expiredDeletes[i, default: 0] += 1
        return true
    }

    /// The value of `key` as the transaction sees it.
    public func get(_ key: [UInt8]) throws -> [UInt8]? { try read(key) { Array($0.value) } }

    /// Reads `key` and buffers what `decide` returns.
    public func mutate<R>(_ key: [UInt8], _ decide: (RecordView?) throws -> (Mutation, R)) throws -> R {
        try store.validate(key: key.count, tag: 0, value: 0)
        var decided: (Mutation, R)?
        var existed = false
        _ = try read(key) { v -> Void in
            existed = true
            decided = try decide(v)
        }
        if decided == nil { decided = try decide(nil) }
        let (m, r) = decided!
        switch m {
        case .keep:
            break
        case .put, .putFile:
            try store.validate(key: key.count, m)
            try m.newFile?.buffer()
            record(key, m)
        case .delete:
            if existed || pending[key] != nil { record(key, .delete) }
        case .touch(let expire):
            guard existed else { break }
            switch pending[key] {
            case .put(let value, let tag, _, let flags)?:
                record(key, .put(value: value, tag: tag, expireTime: expire, flags: flags))
            case .putFile(let file, let tag, _, let flags)?:
                record(key, .putFile(file, tag: tag, expireTime: expire, flags: flags))
            default:
                record(key, m)
            }
        }
        return r
    }

    private func record(_ key: [UInt8], _ m: Mutation) {
        let replaced = pending.updateValue(m, forKey: key)
        if replaced == nil { order.append(key) }
        // A value file buffered for this key and now overwritten will never be written.
        if let file = replaced?.newFile, file !== m.newFile { file.discard(buffered: true) }
    }

    /// Unlinks the value files of buffered writes that were not applied (the body threw, or the
    /// commit stopped early); files already owned by a committed record are kept.
    func discardUnappliedFiles() {
        for m in pending.values { m.newFile?.discard(buffered: true) }
    }

    /// Buffers a write of `key`.
    public func put(_ key: [UInt8], _ value: [UInt8], tag: [UInt8] = [], expireTime: Int64 = 0, flags: UInt8 = 0) throws {
        try mutate(key) { _ in (.put(value: value, tag: tag, expireTime: expireTime, flags: flags), ()) }
    }

    /// Buffers a delete of `key`; returns whether it was present.
    @discardableResult
    public func delete(_ key: [UInt8]) throws -> Bool {
        try mutate(key) { current in (.delete, current != nil) }
    }

    /// Applies the buffered writes, then culls the shards written. Returns the shards written
    /// (also when it throws part way: `written` then says which shards need their durability step).
    func commit(_ written: inout Set<Int>) throws {
        for key in order {
            guard let m = pending[key] else { continue }
            let hash = KeyHash.hash(key)
            let i = store.shardNumber(hash: hash)
            let shard = store.shards[i]
            try key.withUnsafeBytes { k in
                let exists = try shard.lookup(&states[i].pointee, key: k, hash: hash, now: now, verify: false) != nil
                if try shard.apply(&states[i].pointee, m, key: k, hash: hash, now: now, hadValue: exists) { written.insert(i) }
            }
        }
        for (i, n) in expiredDeletes where written.contains(i) { store.shards[i].shared.add(.expirations, n) }
        for i in written.sorted() { try store.shards[i].cullAfterWrite(&states[i].pointee, now: now) }
    }
}

extension RecordView {
    func with(expireTime: Int64) -> RecordView {
        RecordView(flags: flags, sequence: sequence, storeTime: storeTime, expireTime: expireTime,
                   key: key, tag: tag, value: value, position: position)
    }
}

extension Store {
    /// Runs `body` holding every shard's write lock (taken in shard order), so its reads and writes
    /// are isolated from all other threads and processes; its writes are applied together when it
    /// returns (none if it throws), then made durable per the durability mode. Keep the body short:
    /// every writer of the store waits for it.
    ///
    /// Inside `body`, the store's own operations on the body's thread join the transaction, and so
    /// does a nested `transact` (its body runs in this transaction).
    public func transact<R>(now: Int64 = wallClockMicros(), _ body: (StoreTransaction) throws -> R) throws -> R {
        if let outer = try joinedTransaction() { return try body(outer) }
        var pointers: [UnsafeMutablePointer<ShardState>] = []
        var written = Set<Int>()
        func lock(from i: Int) throws -> R {
            if i == shards.count {
                let t = StoreTransaction(store: self, states: pointers, now: now)
                defer { t.discardUnappliedFiles() }
                let previous = cask_current_transaction()
                cask_set_current_transaction(Unmanaged.passUnretained(t).toOpaque())
                let r: R
                do {
                    defer { cask_set_current_transaction(previous) }
                    r = try body(t)
                }
                try t.commit(&written)
                return r
            }
            return try shards[i].withWriteLock { s in
                try withUnsafeMutablePointer(to: &s) { p in
                    pointers.append(p)
                    defer { pointers.removeLast() }
                    return try lock(from: i + 1)
                }
            }
        }
        let result = Result { try lock(from: 0) }
        // Whatever happened, the durability step runs for what was applied (and releases the value
        // files its records dropped). A commit error outranks an fsync error; neither is dropped
        // silently: one of them is thrown.
        var syncError: (any Error)?
        for i in written.sorted() {
            let (position, segment) = shards[i].state.withLock { ($0.applied, $0.active) }
            do { try shards[i].afterWrite(position, segment) } catch { syncError = syncError ?? error }
        }
        let value = try result.get()
        if let syncError { throw syncError }
        return value
    }
}
