/// Operations applied while holding every shard's write lock: nothing else, in any thread or
/// process, sees a half-done transaction or writes in between. Writes are buffered and applied
/// when the body returns; if the body throws, none is applied. Reads see the transaction's own
/// writes. Only valid inside ``Store/transact(now:_:)``; calling the store itself (not through the
/// transaction) from inside the body deadlocks.
public final class StoreTransaction {
    let store: Store
    let states: [UnsafeMutablePointer<ShardState>]
    let now: Int64
    /// Buffered writes, in order of first touch.
    var pending: [[UInt8]: Mutation] = [:]
    var order: [[UInt8]] = []

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
                guard expire == 0 || expire > now else { return nil }
                return try value.withUnsafeBytes { v in
                    try tag.withUnsafeBytes { t in
                        try body(RecordView(flags: flags, sequence: UInt64.max, storeTime: now, expireTime: expire,
                                            key: k, tag: t, value: v, position: LogPosition(segment: .max, offset: .max)))
                    }
                }
            }
        }
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
        case .put(let value, let tag, _, _):
            try store.validate(key: key.count, tag: tag.count, value: value.count)
            record(key, m)
        case .delete:
            if existed || pending[key] != nil { record(key, .delete) }
        case .touch(let expire):
            guard existed else { break }
            if case .put(let value, let tag, _, let flags)? = pending[key] {
                record(key, .put(value: value, tag: tag, expireTime: expire, flags: flags))
            } else {
                record(key, m)
            }
        }
        return r
    }

    private func record(_ key: [UInt8], _ m: Mutation) {
        if pending.updateValue(m, forKey: key) == nil { order.append(key) }
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

    /// Applies the buffered writes. Returns the shards written.
    func commit() throws -> Set<Int> {
        var written = Set<Int>()
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
        return written
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
    public func transact<R>(now: Int64 = wallClockMicros(), _ body: (StoreTransaction) throws -> R) throws -> R {
        var pointers: [UnsafeMutablePointer<ShardState>] = []
        var written = Set<Int>()
        func lock(from i: Int) throws -> R {
            if i == shards.count {
                let t = StoreTransaction(store: self, states: pointers, now: now)
                let r = try body(t)
                written = try t.commit()
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
        let result = try lock(from: 0)
        for i in written {
            let (position, segment) = shards[i].state.withLock { ($0.applied, $0.active) }
            try shards[i].afterWrite(position, segment)
        }
        return result
    }
}
