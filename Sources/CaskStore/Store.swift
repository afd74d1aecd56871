#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
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

        // Open the shards in parallel: loading hint files dominates open time.
        let results = Locked<[Int: Result<Shard, CaskError>]>([:])
        DispatchQueue.concurrentPerform(iterations: count) { i in
            let r: Result<Shard, CaskError>
            do {
                r = .success(try Shard(number: i, path: directory + "/" + StoreMeta.shardDirectory(i), options: options))
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
        self.shards = shards
        timer = Locked(nil)
        if case .interval(let interval) = options.durability { startSyncTimer(interval) }
    }

    deinit {
        timer.withLock { $0?.cancel() }
    }

    // MARK: Keys to shards

    @inline(__always)
    func shard(for hash: UInt64) -> Shard { shards[shardNumber(hash: hash)] }

    /// The shard number that `key` belongs to.
    public func shardIndex(of key: [UInt8]) -> Int { shardNumber(hash: KeyHash.hash(key)) }

    // MARK: Reads

    /// Calls `body` with the live record of `key` (not expired at `now`, µs since the epoch).
    /// The view is only valid inside `body`.
    @inline(__always)
    public func read<R>(_ key: UnsafeRawBufferPointer, now: Int64 = wallClockMicros(),
                        _ body: (RecordView) throws -> R) throws -> R? {
        let hash = KeyHash.hash(key)
        return try shard(for: hash).read(key: key, hash: hash, now: now, body)
    }

    /// The value of `key`, or nil if it is absent or expired.
    public func get(_ key: [UInt8], now: Int64 = wallClockMicros()) throws -> [UInt8]? {
        try key.withUnsafeBytes { (k) throws in try read(k, now: now) { Array($0.value) } }
    }

    // MARK: Writes

    /// Stores `value` under `key`.
    /// - Parameters:
    ///   - expireTime: µs since the Unix epoch when the entry expires; 0 for never.
    ///   - tag: An optional tag (at most 65535 bytes).
    ///   - flags: Record flags for the layer above (compressed, value in file).
    ///   - cull: Culling to do under the same lock after the write (the typed layer's size limit).
    /// - Returns: The replaced record's value-file reference and what culling removed.
    @discardableResult
    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer,
                    tag: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
                    expireTime: Int64 = 0, flags: UInt8 = 0, now: Int64 = wallClockMicros(),
                    cull: CullRequest? = nil) throws -> WriteOutcome {
        try validate(key: key.count, tag: tag.count, value: value.count)
        let hash = KeyHash.hash(key)
        return try shard(for: hash).put(key: key, hash: hash, value: value, tag: tag, expireTime: expireTime, flags: flags,
                                        now: now, cull: cull)
    }

    /// Stores `value` under `key` (array form of ``put(_:_:tag:expireTime:flags:now:cull:)``).
    @discardableResult
    public func put(_ key: [UInt8], _ value: [UInt8], tag: [UInt8] = [], expireTime: Int64 = 0, flags: UInt8 = 0,
                    now: Int64 = wallClockMicros(), cull: CullRequest? = nil) throws -> WriteOutcome {
        try key.withUnsafeBytes { k in
            try value.withUnsafeBytes { v in
                try tag.withUnsafeBytes { t in
                    try put(k, v, tag: t, expireTime: expireTime, flags: flags, now: now, cull: cull)
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
    /// other thread and process using the store. `decide` sees the live record (or nil) and runs
    /// while the shard's write lock is held: keep it short.
    public func mutate<R>(_ key: [UInt8], now: Int64 = wallClockMicros(),
                          _ decide: (RecordView?) throws -> (Mutation, R)) throws -> R {
        try mutateReportingFile(key, now: now, decide).0
    }

    /// ``mutate(_:now:_:)``, also returning the value-file reference of the record a put or delete
    /// replaced, so the typed layer can delete the file once the write is durable.
    package func mutateReportingFile<R>(_ key: [UInt8], now: Int64 = wallClockMicros(),
                                        _ decide: (RecordView?) throws -> (Mutation, R)) throws -> (R, [UInt8]?) {
        try validate(key: key.count, tag: 0, value: 0)
        let hash = KeyHash.hash(key)
        return try key.withUnsafeBytes { (k) throws in
            try shard(for: hash).mutate(key: k, hash: hash, now: now) { (view) throws -> (Mutation, R) in
                let (m, r) = try decide(view)
                if case .put(let value, let tag, _, _) = m { try validate(key: k.count, tag: tag.count, value: value.count) }
                return (m, r)
            }
        }
    }

    /// Reads several keys, taking each shard's mutex once. `body` gets each key's index in `keys`.
    public func readMany(_ keys: [[UInt8]], now: Int64 = wallClockMicros(), _ body: (Int, RecordView?) throws -> Void) throws {
        for (shard, group) in groupByShard(keys) { try shards[shard].readMany(keys: group, now: now, body) }
    }

    /// Applies a mutation per key, taking each shard's write lock once. `decide` gets each key's
    /// index in `keys` and its current record. Returns the value-file references replaced.
    @discardableResult
    public func mutateMany(_ keys: [[UInt8]], now: Int64 = wallClockMicros(),
                           _ decide: (Int, RecordView?) throws -> Mutation) throws -> [[UInt8]] {
        for k in keys { try validate(key: k.count, tag: 0, value: 0) }
        var replaced: [[UInt8]] = []
        for (shard, group) in groupByShard(keys) {
            replaced += try shards[shard].mutateMany(keys: group, now: now) { i, view in
                let m = try decide(i, view)
                if case .put(let value, let tag, _, _) = m { try validate(key: keys[i].count, tag: tag.count, value: value.count) }
                return m
            }
        }
        return replaced
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

    /// Number of live entries (expired ones not yet removed included).
    public var count: Int {
        get throws {
            var n = 0
            for s in shards { n += try s.withCurrentState { (st) throws in st.directory.count } }
            return n
        }
    }

    /// Removes every entry. Returns how many there were.
    @discardableResult
    public func clear() throws -> Int { try clearReportingFiles().count }

    /// ``clear()``, also returning the value-file references of the removed entries.
    package func clearReportingFiles() throws -> (count: Int, files: [[UInt8]]) {
        var n = 0
        var files: [[UInt8]] = []
        for s in shards {
            let (count, refs) = try s.clear()
            n += count
            files += refs
        }
        return (n, files)
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

    /// Flushes according to the durability mode and releases the shards. Using the store
    /// afterwards throws `.closed`. Idempotent. In a child forked after open it does nothing
    /// (every other operation there throws `.forked`).
    public func close() throws {
        // In a forked child the handle is the parent's: leave its locks, mutexes and files alone.
        if shards.first?.isForked == true { return }
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
