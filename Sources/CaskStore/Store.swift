#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCaskSupport
import Dispatch
import Synchronization

/// A directory of sharded append-only logs with an in-memory index: the bytes-level Cask engine.
///
/// Keys and values are bytes. Every operation is safe from any thread of any number of processes
/// that open the same directory. See Design.md for the on-disk format and the protocols.
public final class Store: Sendable {
    /// The cache directory.
    public let directory: String
    /// The number of shards, as persisted in the directory.
    public let shardCount: Int
    /// The options this handle was opened with.
    public let options: StoreOptions
    let shards: [Shard]
    /// `shards` again, unretained: see ``withShard(for:_:)``.
    private let unretainedShards: [Unmanaged<Shard>]
    /// The value-file tier (`<dir>/values`).
    let valueFiles: ValueFileStore
    private let timer: Locked<SyncTimer?>

    /// Opens the store in `directory`, creating the directory (mode 0700) and the store if needed.
    ///
    /// - Parameters:
    ///   - directory: The cache directory.
    ///   - options: Engine settings. `shardCount` only applies when the store is created; an
    ///     existing store keeps the count it was created with.
    /// - Throws: ``CaskError`` with `.notACache` if the directory holds something else,
    ///   `.corrupted` if its metadata or a manifest is damaged, `.io` for system errors.
    public init(directory: String, options: StoreOptions = StoreOptions()) throws {
        guard (1...256).contains(options.shardCount) else {
            throw CaskError(.invalidArgument, "shard count must be 1...256, not \(options.shardCount)", path: directory)
        }
        guard options.segmentSize >= 4096 && options.segmentSize <= 1 << 31 else {
            throw CaskError(.invalidArgument, "segment size must be 4 KiB...2 GiB", path: directory)
        }
        let directory = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        self.directory = directory
        self.options = options
        let count = try StoreMeta.openOrCreate(directory: directory, shardCount: options.shardCount)
        shardCount = count
        // The size limit is the store's: each shard culls to its share.
        let shardOptions = { () -> StoreOptions in
            var o = options
            if let limit = o.cull?.sizeLimit { o.cull?.sizeLimit = max(1, limit / count) }
            return o
        }()

        // Open the shards in parallel: loading hint files dominates open time.
        let results = Locked<[Int: Result<Shard, CaskError>]>([:])
        let sequences = SequenceSource()
        DispatchQueue.concurrentPerform(iterations: count) { i in
            let r: Result<Shard, CaskError>
            do {
                r = .success(try Shard(number: i, path: directory + "/" + StoreMeta.shardDirectory(i), options: shardOptions,
                                       sequences: sequences))
            } catch {
                r = .failure(error as? CaskError ?? CaskError(.io, "\(error)", path: directory))
            }
            results.withLock { $0[i] = r }
        }
        var shards: [Shard] = []
        for i in 0..<count {
            switch results.withLock({ $0[i]! }) {
            case .success(let s): shards.append(s)
            case .failure(let e): throw e
            }
        }
        // Record sequences are store-wide: one counter, in shard 0's header, above every shard's log.
        sequences.attach(shards[0].shared, above: shards.map { $0.state.withLock { $0.maxSequence } }.max() ?? 0)
        self.shards = shards
        unretainedShards = shards.map { Unmanaged.passUnretained($0) }
        valueFiles = ValueFileStore(directory: directory, durability: options.durability)
        timer = Locked(nil)
        if case .interval(let interval) = options.durability { startSyncTimer(interval) }
    }

    deinit {
        timer.withLock { $0?.cancel() }
    }

    // MARK: Keys to shards

    @inline(__always)
    func shard(for hash: UInt64) -> Shard { shards[shardNumber(hash: hash)] }

    /// Calls `body` with the shard of `hash`, without the retain and release that loading it from
    /// `shards` costs on the hot paths (the store holds every shard for its whole life).
    @inline(__always)
    func withShard<R>(for hash: UInt64, _ body: (Shard) throws -> R) rethrows -> R {
        try unretainedShards[shardNumber(hash: hash)]._withUnsafeGuaranteedRef(body)
    }

    /// The shard number that `key` belongs to.
    public func shardIndex(of key: [UInt8]) -> Int { shardNumber(hash: KeyHash.hash(key)) }

    // MARK: Writes

    /// Stores `value` under `key`, then culls per ``StoreOptions/cull`` under the same lock.
    /// - Parameters:
    ///   - key: The key's bytes (at most 65535).
    ///   - value: The value's bytes.
    ///   - expireTime: µs since the Unix epoch when the entry expires; 0 for never.
    ///   - tag: An optional tag (at most 65535 bytes).
    ///   - flags: Record flags for the layer above (compressed, value encoding).
    ///   - now: The current time, µs since the Unix epoch: the record's store time, and the time
    ///     the culling compares expire times with.
    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer,
                    tag: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
                    expireTime: Int64 = 0, flags: UInt8 = 0, now: Int64 = wallClockMicros()) throws {
        try validate(key: key.count, tag: tag.count, value: value.count)
        if let tx = try joinedTransaction() {
            try tx.put(Array(key), Array(value), tag: Array(tag), expireTime: expireTime, flags: flags)
            return
        }
        let hash = KeyHash.hash(key)
        try shard(for: hash).put(key: key, hash: hash, value: value, tag: tag, expireTime: expireTime, flags: flags, now: now)
    }

    /// Stores `value` under `key` (array form of ``put(_:_:tag:expireTime:flags:now:)``).
    public func put(_ key: [UInt8], _ value: [UInt8], tag: [UInt8] = [], expireTime: Int64 = 0, flags: UInt8 = 0,
                    now: Int64 = wallClockMicros()) throws {
        try key.withUnsafeBytes { k in
            try value.withUnsafeBytes { v in
                try tag.withUnsafeBytes { t in
                    try put(k, v, tag: t, expireTime: expireTime, flags: flags, now: now)
                }
            }
        }
    }

    /// Deletes `key`. Returns true if it was present and not expired.
    @discardableResult
    public func delete(_ key: [UInt8], now: Int64 = wallClockMicros()) throws -> Bool {
        try mutate(key, now: now) { current in (.delete, current != nil) }
    }

    /// Changes the expire time of a live key. Returns false if the key is absent or expired.
    @discardableResult
    public func touch(_ key: [UInt8], expireTime: Int64, now: Int64 = wallClockMicros()) throws -> Bool {
        try mutate(key, now: now) { current in (.touch(expireTime: expireTime), current != nil) }
    }

    /// Reads `key` and applies the mutation `decide` returns, atomically with respect to every
    /// other thread and process using the store, then culls. `decide` sees the live record (or
    /// nil) and runs while the shard's write lock is held: keep it short. Inside a transaction of
    /// this store, the mutation joins the transaction.
    public func mutate<R>(_ key: [UInt8], now: Int64 = wallClockMicros(),
                          _ decide: (RecordView?) throws -> (Mutation, R)) throws -> R {
        try validate(key: key.count, tag: 0, value: 0)
        if let tx = try joinedTransaction() { return try tx.mutate(key, decide) }
        let hash = KeyHash.hash(key)
        return try key.withUnsafeBytes { (k) throws in
            try shard(for: hash).mutate(key: k, hash: hash, now: now) { (view) throws -> (Mutation, R) in
                let (m, r) = try decide(view)
                try validate(key: k.count, m)
                return (m, r)
            }
        }
    }

    /// Applies a mutation per key, taking each shard's write lock once, then culls. `decide` gets
    /// each key's index in `keys` and its current record.
    public func mutateMany(_ keys: [[UInt8]], now: Int64 = wallClockMicros(),
                           _ decide: (Int, RecordView?) throws -> Mutation) throws {
        for k in keys { try validate(key: k.count, tag: 0, value: 0) }
        if let tx = try joinedTransaction() {
            for (i, k) in keys.enumerated() { try tx.mutate(k) { (try decide(i, $0), ()) } }
            return
        }
        // One block of sequence numbers, in key order: the records list in the order of `keys`.
        let base = shards[0].sequences.header?.fetchAdd(.nextSequence, UInt64(keys.count))
        for (shard, group) in groupByShard(keys) {
            try shards[shard].mutateMany(keys: group, now: now, sequenceBase: base) { i, view in
                let m = try decide(i, view)
                try validate(key: keys[i].count, m)
                return m
            }
        }
    }

    /// The transaction of this store whose body the calling thread is running, if any.
    @inline(__always)
    func joinedTransaction() throws -> StoreTransaction? {
        guard let p = cask_current_transaction() else { return nil }
        let tx = Unmanaged<StoreTransaction>.fromOpaque(p).takeUnretainedValue()
        if tx.store === self { return tx }
        if tx.store.directory == directory {
            throw CaskError(.invalidArgument, "another handle on this directory is in a transaction in this thread; use that handle",
                            path: directory)
        }
        return nil
    }

    func validate(key: Int, _ m: Mutation) throws {
        switch m {
        case .put(let value, let tag, _, _): try validate(key: key, tag: tag.count, value: value.count)
        case .putFile(_, let tag, _, _): try validate(key: key, tag: tag.count, value: 0)
        case .keep, .touch, .delete: break
        }
    }

    func groupByShard(_ keys: [[UInt8]]) -> [(Int, [(index: Int, key: [UInt8], hash: UInt64)])] {
        var groups: [Int: [(index: Int, key: [UInt8], hash: UInt64)]] = [:]
        for (i, k) in keys.enumerated() {
            let h = KeyHash.hash(k)
            groups[shardNumber(hash: h), default: []].append((i, k, h))
        }
        return groups.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    func validate(key: Int, tag: Int, value: Int) throws {
        guard key <= RecordHeader.maxKeyLength else {
            throw CaskError(.invalidArgument, "key of \(key) bytes is longer than \(RecordHeader.maxKeyLength)", path: directory)
        }
        guard tag <= RecordHeader.maxTagLength else {
            throw CaskError(.invalidArgument, "tag of \(tag) bytes is longer than \(RecordHeader.maxTagLength)", path: directory)
        }
        guard value <= RecordHeader.maxValueLength else {
            throw CaskError(.invalidArgument, "value of \(value) bytes is larger than \(RecordHeader.maxValueLength) (store it as a file)", path: directory)
        }
    }

    // MARK: Whole store

    /// Number of live entries (expired ones not yet removed included), not counting reserved keys
    /// (first byte 0x00: the bookkeeping of the layer above, such as a queue's bounds).
    public var count: Int {
        get throws {
            var n = 0
            for s in shards { n += try s.withCurrentState { (st) throws in st.userEntryCount() } }
            return n
        }
    }

    /// Removes every entry, reserved keys included, and their value files. Returns how many
    /// entries there were.
    @discardableResult
    public func clear() throws -> Int {
        var n = 0
        for s in shards {
            let (count, references) = try s.clear()
            n += count
            // The new manifest is durable when clear returns: the files can go.
            for r in references {
                if let reference = r.withUnsafeBytes({ ValueFileReference($0) }) { valueFiles.remove(reference.path) }
            }
        }
        return n
    }

    /// Compacts every shard now (regardless of thresholds). Returns what each compaction did.
    @discardableResult
    public func compact() throws -> [CompactionResult] {
        var results: [CompactionResult] = []
        for s in shards { if let r = try s.compact(force: true) { results.append(r) } }
        return results
    }

    /// fsyncs everything written so far.
    public func sync() throws {
        for s in shards { try s.syncIfNeeded() }
    }

    /// What recovery found and repaired when the store was opened (and since, while reading).
    public var recoveryReport: RecoveryReport {
        var r = RecoveryReport()
        for s in shards { r.merge(s.report.withLock { $0 }) }
        return r
    }

    /// True in a child forked after this store was opened: the handle belongs to the parent.
    package var isForkedCopy: Bool { shards.first?.isForked == true }

    /// Flushes according to the durability mode and releases the shards. Using the store
    /// afterwards throws `.closed`. Idempotent. In a child forked after open it does nothing
    /// (every other operation there throws `.forked`).
    public func close() throws {
        // In a forked child the handle is the parent's: leave its locks, mutexes and files alone.
        if isForkedCopy { return }
        timer.withLock { $0?.cancel(); $0 = nil }
        var failure: CaskError?
        for s in shards {
            if options.durability != .none {
                do { try s.syncIfNeeded() } catch { failure = failure ?? (error as? CaskError) }
            }
            s.state.withLock { st in
                st.closed = true
                // Sealed segments' descriptors and mappings go now; the rest with the store.
                st.segments = [:]
            }
        }
        Shard.waitForReleases()
        if let failure { throw failure }
    }

    private func startSyncTimer(_ interval: Duration) {
        let shards = self.shards
        let t = SyncTimer(interval: interval) {
            for s in shards { try? s.syncIfNeeded() }
        }
        timer.withLock { $0 = t }
    }
}

/// The timer of `interval` durability: fsyncs shards with unsynced writes every interval.
final class SyncTimer: @unchecked Sendable {
    // @unchecked: the dispatch source is created and resumed in init and only cancelled after;
    // DispatchSource is internally synchronized.
    private let source: any DispatchSourceTimer

    init(interval: Duration, _ tick: @escaping @Sendable () -> Void) {
        source = DispatchSource.makeTimerSource(queue: DispatchQueue.global(qos: .utility))
        let nanos = max(1_000_000, Int(interval.nanoseconds))
        source.schedule(deadline: .now() + .nanoseconds(nanos), repeating: .nanoseconds(nanos))
        source.setEventHandler(handler: tick)
        source.resume()
    }

    func cancel() { source.cancel() }
}

extension Store {
    /// Checks the engine's invariants in every shard: index bookkeeping, every entry pointing at a
    /// valid record of its own key in a live segment, positions within segment lengths.
    /// Returns a description of the first violation, or nil. Tests call it after random steps.
    package func checkInvariants() throws -> String? {
        for shard in shards {
            let problem = try shard.withCurrentState { s -> String? in
                if let p = s.directory.checkInvariants() { return "shard \(shard.number): \(p)" }
                let live = Set(s.manifest.segments.map(\.id))
                guard s.manifest.segments.last?.id == s.active.id else { return "shard \(shard.number): active is not last" }
                var problem: String?
                let view = s.view
                s.directory.forEach { hash, key, e in
                    guard problem == nil else { return }
                    guard live.contains(e.segment), let seg = view.segment(e.segment) else {
                        problem = "entry in dead segment \(e.segment)"
                        return
                    }
                    guard Int(e.offset) + Int(e.length) <= (s.segmentLengths[e.segment] ?? -1) else {
                        problem = "entry past the end of segment \(e.segment)"
                        return
                    }
                    guard case .valid(let h) = RecordCodec.parse(seg.bytes(at: Int(e.offset)), available: Int(e.length)),
                          h.kind == .put, h.length == Int(e.length) else {
                        problem = "entry at \(e.segment):\(e.offset) is not a valid put record"
                        return
                    }
                    let k = view.keyOf(e)
                    if let hash, KeyHash.hash(k) != hash { problem = "entry hash does not match its key" }
                    if let key, key != k { problem = "collided entry key does not match its record" }
                    if shardNumber(hash: KeyHash.hash(k)) != shard.number { problem = "key in the wrong shard" }
                }
                return problem.map { "shard \(shard.number): \($0)" }
            }
            if let problem { return problem }
        }
        return nil
    }
}
