#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCaskSupport
import Synchronization

/// One shard: a directory with a lock file (also the shared header), a manifest, and log segments.
final class Shard: Sendable {
    let number: Int
    let path: String
    let options: StoreOptions
    let lockFile: FileRef
    let shared: SharedHeader
    /// Where appends take their sequence numbers (store-wide; this shard's header until attached).
    let sequences: SequenceSource
    let state: Locked<ShardState>
    let report = Locked(RecoveryReport())
    /// Set while this process compacts the shard, so it does not start a second compaction.
    let compacting = Atomic<Bool>(false)
    /// Serializes this process's fsyncs of the shard; counts them.
    let syncMutex = Locked<Int>(0)
    /// Monotonic time of this process's last fsync of the shard (interval durability).
    let lastSyncNanos = Atomic<Int64>(0)
    /// The store time of this process's latest record (µs; `Int64.max` before the first): the
    /// writer's clock, which may not be the wall clock (an injected clock in the typed layer).
    /// Compaction drops an expired record only if it has expired by this clock too.
    let latestStoreTime = Atomic<Int64>(Int64.max)
    /// The fork generation of the process that opened the shard (see `cask_watch_forks`).
    let forkGeneration: UInt64
    /// Values from this size on are written by a second `pwrite` from the caller's memory
    /// instead of being copied into the record buffer first.
    static let separateValueWrite = 64 << 10
    /// How much of a large value one `pwrite` writes (one call for 16 MiB measured 2–3× slower
    /// than the same bytes in pieces), and how much `Store.get` copies out and checksums at a time
    /// (small enough to stay in the CPU's cache between the two).
    static let valuePiece = 256 << 10
    /// The id of that process, which alone uses the handle (the fork rule): a writer marks the
    /// header with it on every record, and `getpid` is a system call each time.
    let processID: UInt64

    var manifestPath: String { path + "/MANIFEST" }
    /// `<store>/values`: where the value files named by this shard's records live.
    let valuesRoot: String
    func segmentPath(_ id: UInt32) -> String { path + "/" + Segment.fileName(id) }
    func hintPath(_ id: UInt32) -> String { path + "/" + Segment.hintName(id) }

    init(number: Int, path: String, options: StoreOptions, sequences: SequenceSource = SequenceSource()) throws {
        self.number = number
        self.sequences = sequences
        self.path = path
        self.options = options
        cask_watch_forks()
        forkGeneration = cask_fork_generation()
        processID = UInt64(getpid())
        valuesRoot = (path.lastIndex(of: "/").map { String(path[..<$0]) } ?? ".") + "/values"
        if try FileSystem.makeDirectory(path) {
            // Its entry in the store directory must be durable before anything inside it can be.
            let parent = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
            try FileSystem.syncDirectory(parent.isEmpty ? "/" : parent)
        }
        let lock = try FileRef.open(path + "/lock", flags: O_RDWR | O_CREAT)
        lockFile = lock
        var header: SharedHeader?
        do {
            try Shard.lock(lock, LOCK_EX)
            defer { _ = Sys.flock(lock.fd, LOCK_UN) }
            // Real disk blocks before the mapping (every open: a header left sparse gets them too).
            // A store into a mapped page the file system cannot back is a SIGBUS; here a full
            // disk is an ENOSPC error instead, and nothing has been mapped.
            try lock.allocate(length: Int64(SharedHeader.fileSize))
            switch Sys.mmap(lock.fd, length: SharedHeader.fileSize, writable: true) {
            case .success(let p): header = SharedHeader(mapping: p)
            case .failure(let e): throw CaskError.io("cannot map shard header", path: lock.path, errno: e)
            }
            let h = header!
            let live = h.isCurrent(bootID: BootIdentity.current)
            if !live { try h.initialize(bootID: BootIdentity.current, path: lock.path) }
            // The `flock` serializes openers (and the header's initialization); writers of other
            // processes take only the write lock, so recovery takes it too.
            try Shard.takeWriteLock(h, lock, spins: 0)
            defer { Shard.releaseWriteLock(h, lock) }
            let (initial, report) = try Shard.recover(path: path, number: number, options: options, shared: h, headerIsLive: live)
            shared = h
            state = Locked(initial)
            self.report.withLock { $0 = report }
        } catch {
            lock.close()
            throw error
        }
    }

    deinit {
        // Closing the descriptor also releases any flock this process still held through it
        // (the header mapping is released by SharedHeader).
        lockFile.close()
    }

    // MARK: Locking

    static func lock(_ file: FileRef, _ operation: Int32) throws {
        if case .failure(let e) = Sys.flock(file.fd, operation) {
            throw CaskError.io("cannot lock shard", path: file.path, errno: e)
        }
    }

    /// Takes the cross-process write lock (see `cask_write_lock`): a few tries with a yield in
    /// between, then a blocking wait. The caller holds the shard mutex (so one thread per process
    /// competes).
    func lockExclusive() throws {
        try Shard.takeWriteLock(shared, lockFile, spins: options.lockSpinCount)
    }

    func unlock() { Shard.releaseWriteLock(shared, lockFile) }

    /// Takes `header`'s write lock. A holder that died is no error: what it left half done is
    /// repaired by whoever takes the lock next (the header's writer and manifest-change marks).
    static func takeWriteLock(_ header: SharedHeader, _ file: FileRef, spins: Int) throws {
        let rc = cask_write_lock(header.writeLock, file.fd, Int32(clamping: spins))
        guard rc == 0 || rc == 1 else { throw CaskError(.io, "cannot lock shard", path: file.path, errno: rc) }
    }

    static func releaseWriteLock(_ header: SharedHeader, _ file: FileRef) {
        _ = cask_write_unlock(header.writeLock, file.fd)
    }

    /// True in a child forked after the shard was opened. Such a child shares the parent's flock
    /// descriptions (its lock would exclude neither process) and maybe a mutex some parent thread
    /// held at the fork: it must touch neither, and open the store again instead.
    @inline(__always)
    var isForked: Bool { cask_fork_generation() != forkGeneration }

    /// Throws `.forked` in a forked child (one load and compare otherwise).
    @inline(__always)
    func checkProcess() throws {
        if isForked { throw forkedError() }
    }

    @inline(never)
    func forkedError() -> CaskError {
        CaskError(.forked, "the store was opened in another process (fork); open it again in this process", path: path)
    }

    /// Runs `body` with the shard mutex held and this process's view brought up to date with what
    /// other processes committed. Cheap when nothing changed: two atomic loads.
    @inline(__always)
    func withCurrentState<R>(_ body: (inout ShardState) throws -> R) throws -> R {
        try checkProcess()
        let version = shared.load(.version)
        let position = LogPosition(packed: shared.load(.position))
        if cask_current_transaction() != nil { try refuseInsideTransaction() }
        return try state.withLock { (s) throws -> R in
            guard !s.closed else { throw CaskError(.closed, "the store is closed", path: path) }
            if s.sharedVersion != version || s.applied != position {
                try catchUp(&s, exclusive: false)
            }
            return try body(&s)
        }
    }

    /// Runs `body` holding the shard mutex and the cross-process write lock, with the view current.
    /// Repairs a torn record left by a writer that died while holding the lock.
    func withWriteLock<R>(_ body: (inout ShardState) throws -> R) throws -> R {
        try checkProcess()
        if cask_current_transaction() != nil { try refuseInsideTransaction() }
        return try state.withLock { (s) throws -> R in
            guard !s.closed else { throw CaskError(.closed, "the store is closed", path: path) }
            try lockExclusive()
            defer { unlock() }
            try catchUp(&s, exclusive: true)
            if shared.load(.writer) != 0 {
                // A writer died between starting a record and publishing it: its bytes lie past the
                // committed end, which nobody reads. Cut them (and the space allocated ahead, which
                // the next append allocates again) so the next record starts clean.
                try cut(s.active, to: Int(s.applied.offset))
                shared.store(.writer, 0)
            }
            if shared.load(.manifestChange) != 0 { try completeManifestChange(&s) }
            return try body(&s)
        }
    }

    /// Throws instead of deadlocking when the calling thread runs the body of a transaction that
    /// holds this shard's locks (this handle's, or another handle's on the same directory).
    func refuseInsideTransaction() throws {
        guard let p = cask_current_transaction() else { return }
        let tx = Unmanaged<StoreTransaction>.fromOpaque(p).takeUnretainedValue()
        guard tx.store.shards.indices.contains(number), tx.store.shards[number].path == path else { return }
        throw CaskError(.invalidArgument, "this operation cannot run inside a transaction on the same cache; "
                        + "run it before or after the transaction", path: path)
    }

    // MARK: Appending

    /// Appends one record at the committed end and publishes it. Caller holds the write lock.
    /// Returns the index entry describing the new record.
    func append(
        _ s: inout ShardState, kind: RecordKind, flags: RecordFlags, storeTime: Int64, expireTime: Int64,
        key: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer
    ) throws -> IndexEntry {
        let length = RecordHeader.length(key: key.count, tag: tag.count, value: value.count)
        if storeTime > 0 { latestStoreTime.store(storeTime, ordering: .relaxed) }
        if Int(s.applied.offset) > 0 && Int(s.applied.offset) + length > options.segmentSize {
            try roll(&s)
        }
        guard Int(s.applied.offset) + length <= Int(UInt32.max) else {
            throw CaskError(.invalidArgument, "record of \(length) bytes does not fit a segment", path: s.active.file.path)
        }
        // A large value goes to the file from the caller's memory, after the rest of the record,
        // by `pwrite`s: the kernel's copy, and no page faults of a mapping on the way.
        let separate = value.count >= Shard.separateValueWrite
        let offset = s.applied.offset
        let end = offset + UInt32(length)
        let segment = s.active
        // Space and mapping first: a full disk (or a failed mmap) fails the append here, before
        // any of its bytes are written.
        let mapped = try allocate(segment, through: Int(end)) && !separate
        try segment.ensureMapped(Int(end))
        let sequence = nextSequence(&s)
        shared.store(.writer, processID)
        if mapped {
            storeMapped(segment, at: Int(offset), length: length, kind: kind, flags: flags, sequence: sequence,
                        storeTime: storeTime, expireTime: expireTime, key: key, tag: tag, value: value)
        } else {
            try writeRecord(&s, segment, at: offset, length: length, separate: separate, kind: kind, flags: flags,
                            sequence: sequence, storeTime: storeTime, expireTime: expireTime, key: key, tag: tag, value: value)
        }
        s.maxSequence = sequence
        s.applied = LogPosition(segment: s.active.id, offset: end)
        s.segmentLengths[s.active.id] = Int(end)
        shared.store(.position, s.applied.packed)
        shared.store(.writer, 0)
        // Checked: the record's bytes and its CRC were both made from this handle's memory.
        var entry = IndexEntry(segment: s.active.id, offset: offset, length: UInt32(length), tag: 0, expireTime: expireTime,
                               flags: flags.rawValue)
        entry.checked = true
        return entry
    }

    /// Writes a record with `pwrite` (a large value, or space the file system cannot allocate),
    /// cutting whatever part of it reached the file if a write fails.
    func writeRecord(
        _ s: inout ShardState, _ segment: Segment, at offset: UInt32, length: Int, separate: Bool, kind: RecordKind,
        flags: RecordFlags, sequence: UInt64, storeTime: Int64, expireTime: Int64,
        key: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer
    ) throws {
        let encoded = separate ? length - value.count : length
        if s.writeBuffer.count < encoded { s.writeBuffer = [UInt8](repeating: 0, count: max(encoded, 4096)) }
        let file = segment.file
        try s.writeBuffer.withUnsafeMutableBytes { (buf) throws in
            do {
                if separate {
                    let n = RecordCodec.encodeWithoutValue(into: buf.baseAddress!, kind: kind, flags: flags, sequence: sequence,
                                                           storeTime: storeTime, expireTime: expireTime, key: key, tag: tag, value: value)
                    try file.write(UnsafeRawBufferPointer(rebasing: buf[0..<n]), at: Int64(offset))
                    var done = 0
                    while done < value.count {
                        let piece = UnsafeRawBufferPointer(rebasing: value[done..<min(value.count, done + Shard.valuePiece)])
                        try file.write(piece, at: Int64(offset) + Int64(n) + Int64(done))
                        done += piece.count
                    }
                } else {
                    let n = RecordCodec.encode(into: buf.baseAddress!, kind: kind, flags: flags, sequence: sequence,
                                               storeTime: storeTime, expireTime: expireTime, key: key, tag: tag, value: value)
                    try file.write(UnsafeRawBufferPointer(rebasing: buf[0..<n]), at: Int64(offset))
                }
            } catch {
                // Nothing was published: cut whatever part of the record reached the file.
                _ = try? cut(segment, to: Int(offset))
                shared.store(.writer, 0)
                throw error
            }
        }
    }

    /// The sequence number of the next record: from the store-wide counter (or the block a batch
    /// reserved), and always above every sequence in this shard, which the log format requires.
    @inline(__always)
    func nextSequence(_ s: inout ShardState) -> UInt64 {
        let counter = sequences.header ?? shared
        var n: UInt64
        if let reserved = s.reservedSequence {
            n = reserved
            s.reservedSequence = nil
        } else {
            n = counter.fetchAdd(.nextSequence, 1)
        }
        if n <= s.maxSequence {
            // A reservation overtaken by another writer of this shard, or a counter behind the log
            // (a store written before sequences were store-wide): stay increasing in the shard.
            n = counter.fetchAdd(.nextSequence, 1)
            if n <= s.maxSequence {
                n = s.maxSequence + 1
                counter.raise(.nextSequence, to: n + 1)
            }
        }
        return n
    }

    /// Seals the active segment and starts a new one. Caller holds the write lock.
    func roll(_ s: inout ShardState, adoptingDisk: Bool = true) throws {
        if adoptingDisk { try adoptDiskManifest(&s) }
        // A sealed segment's file size is its end (processes following the roll read up to it):
        // cut the space allocated ahead before the new manifest seals it.
        try cut(s.active, to: Int(s.applied.offset))
        try s.active.file.sync()
        var next = s.manifest
        let id = next.nextSegmentID
        next.nextSegmentID += 1
        next.version += 1
        next.segments.append(Manifest.Segment(id: id, hasHint: false))
        let segment = try openSegment(id, create: true)
        beginManifestChange()
        try FileSystem.replaceAtomically(manifestPath, with: next.encoded(), directory: path)
        s.segments[s.active.id] = s.active
        s.segments[id] = segment
        s.segmentLengths[id] = 0
        s.active = segment
        s.manifest = next
        s.applied = LogPosition(segment: id, offset: 0)
        s.sharedVersion = next.version
        // Order matters: a reader that sees the new position must then see the new version.
        shared.store(.version, next.version)
        shared.store(.position, s.applied.packed)
        shared.raise(.durable, to: s.applied.packed)
        endManifestChange()
    }

    /// Marks a manifest change in flight in the shared header, just before renaming the new
    /// MANIFEST. Caller holds the write lock. If the change then fails or its process dies before
    /// `endManifestChange`, the mark stays, and the next writer completes the change.
    func beginManifestChange() { shared.store(.manifestChange, processID) }

    /// Clears the mark once the new manifest is published (version and position stored).
    func endManifestChange() { shared.store(.manifestChange, 0) }

    /// A manifest change (roll, compaction commit, clear) was marked but never published: its
    /// process died or it threw, maybe after renaming its MANIFEST. The manifest on disk is the
    /// truth either way: adopt it (which completes a change whose rename happened and keeps the old
    /// state if it did not), make the rename durable, publish it, then clear the mark. Writes other
    /// processes made meanwhile went to this view's active segment: fsync it first, as a roll would.
    /// Caller holds the write lock.
    func completeManifestChange(_ s: inout ShardState) throws {
        try s.active.file.sync()
        let disk = try readManifest()
        if disk != s.manifest { try reload(&s, manifest: disk, exclusive: true) }
        try FileSystem.syncDirectory(path)
        if disk.version > shared.load(.version) { shared.store(.version, disk.version) }
        s.sharedVersion = shared.load(.version)
        if LogPosition(packed: shared.load(.position)).segment != s.active.id {
            // Nobody can have written to the adopted active segment: it starts at this view's end.
            shared.store(.position, s.applied.packed)
            shared.raise(.durable, to: s.applied.packed)
        }
        shared.store(.manifestChange, 0)
    }

    /// Before writing a new manifest: if the one on disk differs from this view (a roll that died
    /// after renaming its manifest but before publishing it), adopt it first, so that manifest
    /// versions stay unique and no process keeps a view the disk no longer has.
    /// Caller holds the write lock.
    func adoptDiskManifest(_ s: inout ShardState) throws {
        let disk = try readManifest()
        guard disk != s.manifest else { return }
        try reload(&s, manifest: disk, exclusive: true)
        if disk.version > shared.load(.version) { shared.store(.version, disk.version) }
        s.sharedVersion = shared.load(.version)
    }

    func openSegment(_ id: UInt32, create: Bool) throws -> Segment {
        let flags = create ? (O_RDWR | O_CREAT | O_TRUNC) : O_RDWR
        let file = try FileRef.open(segmentPath(id), flags: flags)
        return Segment(id: id, file: file, mapGranule: options.segmentSize)
    }
}
