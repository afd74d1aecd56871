#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one compaction did.
public struct CompactionResult: Sendable, Equatable {
    /// The shard compacted.
    public var shard: Int
    /// Bytes of the segments that were compacted.
    public var bytesBefore: Int
    /// Bytes of the segments written.
    public var bytesAfter: Int
    /// Live records copied.
    public var recordsCopied: Int
    /// Longest time the compaction held the shard's locks at once (the pause other operations saw).
    public var longestPauseNanos: Int64
}

extension Shard {
    /// Rewrites the live records of all sealed segments into new segments with hint files.
    ///
    /// 1. Write lock (short): remove orphans of crashed compactions, reserve segment ids, seal the
    ///    active segment. The sealed segments are the compacted prefix of the log.
    /// 2. No cross-process lock: read the sealed segments in order; for each batch of records take
    ///    the mutex briefly to ask the index which are live; copy those (with their current expire
    ///    time) into new segment files; write their hint files; fsync both.
    /// 3. Write lock (short): check no clear or other compaction intervened, replace the manifest
    ///    (outputs first, then every segment that was not compacted), publish the new version.
    /// 4. Mutex only, in batches: point this process's index at the copies; then delete the old files.
    ///
    /// Tombstones and expired records are dropped: everything older than them is in the prefix.
    /// Returns nil if another compaction of the shard is running, the shard has no sealed data, or
    /// (unless `force`) it is below the thresholds.
    func compact(force: Bool) throws -> CompactionResult? {
        try checkProcess()
        guard compacting.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return nil }
        defer { compacting.store(false, ordering: .releasing) }
        let guardFile = try FileRef.open(path + "/compact.lock", flags: O_RDWR | O_CREAT)
        defer { guardFile.close() }
        guard case .success = Sys.flock(guardFile.fd, LOCK_EX | LOCK_NB) else { return nil }

        // Phase 1: seal. Flush the active segment first, so the fsync the roll does under the lock
        // only covers what was written in between.
        try state.withLock { s in s.active }.file.sync()
        var pause: Int64 = 0
        var t0 = monotonicNanos()
        let plan = try withWriteLock { s -> Plan? in
            if !force && !(s.deadBytes >= options.compactionMinimumDeadBytes
                           && Double(s.deadBytes) >= options.compactionDeadFraction * Double(s.totalBytes)) {
                return nil
            }
            try adoptDiskManifest(&s)
            try removeOrphans(s)
            // Reserve segment ids for the outputs (at most one per sealed segment plus one), then
            // seal the active segment; the roll persists the reservation in the manifest.
            let reserved = s.manifest.nextSegmentID
            let capacity = UInt32(2 * s.manifest.segments.count + 1)
            s.manifest.nextSegmentID += capacity
            try roll(&s, adoptingDisk: false)
            let sealed = s.manifest.segments.dropLast().map { s.segment($0.id)! }
            let lengths = sealed.map { s.segmentLengths[$0.id] ?? 0 }
            return Plan(sealed: sealed, lengths: lengths, firstID: reserved, idCount: capacity)
        }
        pause = max(pause, monotonicNanos() - t0)
        guard let plan else { return nil }

        // Phase 2: copy live records without holding the write lock.
        var copy = try writeOutputs(plan)

        // Phase 3: commit.
        t0 = monotonicNanos()
        let committed = try withWriteLock { s -> Bool in
            try adoptDiskManifest(&s)
            let sealedIDs = plan.sealed.map(\.id)
            guard s.manifest.segments.count > sealedIDs.count,
                  Array(s.manifest.segments.prefix(sealedIDs.count).map(\.id)) == sealedIDs else { return false }
            var opened: [Segment] = []
            for output in copy.outputs {
                let seg = try openSegment(output.id, create: false)
                try seg.ensureMapped(output.length)
                opened.append(seg)
            }
            var next = s.manifest
            next.segments = copy.outputs.map { .init(id: $0.id, hasHint: true) } + s.manifest.segments.dropFirst(sealedIDs.count)
            next.version += 1
            beginManifestChange()
            try FileSystem.replaceAtomically(manifestPath, with: next.encoded(), directory: path)
            shared.store(.version, next.version)
            // The old segments stay open (retired) until the index no longer points into them.
            for id in sealedIDs { s.segmentLengths[id] = nil }
            for (i, seg) in opened.enumerated() {
                s.segments[seg.id] = seg
                s.segmentLengths[seg.id] = copy.outputs[i].length
            }
            s.manifest = next
            s.sharedVersion = next.version
            endManifestChange()
            return true
        }
        pause = max(pause, monotonicNanos() - t0)
        guard committed else {
            for o in copy.outputs { _ = Sys.unlink(segmentPath(o.id)); _ = Sys.unlink(hintPath(o.id)) }
            return nil
        }
        // The new manifest is durable: the old files can go (open descriptors keep them readable).
        for seg in plan.sealed {
            _ = Sys.unlink(segmentPath(seg.id))
            _ = Sys.unlink(hintPath(seg.id))
        }

        // Phase 4: relocate this process's index entries in batches.
        let batch = 4096
        var i = 0
        while i < copy.moves.count || i < copy.drops.count {
            t0 = monotonicNanos()
            state.withLock { s in
                for m in copy.moves[min(i, copy.moves.count)..<min(i + batch, copy.moves.count)] {
                    s.directory.relocate(hash: m.hash, from: m.old, segment: m.segment, offset: m.offset)
                }
                for d in copy.drops[min(i, copy.drops.count)..<min(i + batch, copy.drops.count)] {
                    s.directory.remove(hash: d.hash, at: d.old)
                }
                if !copy.drops.isEmpty { s.reservedKeys = nil }
            }
            pause = max(pause, monotonicNanos() - t0)
            i += batch
        }
        state.withLock { s in
            for seg in plan.sealed where !s.manifest.segments.contains(where: { $0.id == seg.id }) {
                s.segments[seg.id] = nil
            }
        }
        copy.moves = []
        return CompactionResult(shard: number, bytesBefore: plan.lengths.reduce(0, +),
                                bytesAfter: copy.outputs.reduce(0) { $0 + $1.length },
                                recordsCopied: copy.outputs.reduce(0) { $0 + $1.hints.count }, longestPauseNanos: pause)
    }

    struct Plan {
        let sealed: [Segment]
        let lengths: [Int]
        let firstID: UInt32
        let idCount: UInt32
    }

    struct Output {
        let id: UInt32
        var length = 0
        var hints: [HintEntry] = []
    }

    struct Move {
        let hash: UInt64
        let old: LogPosition
        let segment: UInt32
        let offset: UInt32
    }

    struct Drop {
        let hash: UInt64
        let old: LogPosition
    }

    struct CopyResult {
        var outputs: [Output] = []
        var moves: [Move] = []
        var drops: [Drop] = []
    }

    /// A put record of a sealed segment, and what the index says about it.
    private struct Candidate {
        let offset: Int
        let header: RecordHeader
        let hash: UInt64
        var live = false
        var expireTime: Int64 = 0
    }

    /// Phase 2: copies the live records of the sealed segments into new segment files of at most
    /// `segmentSize` bytes each, with hint files; fsyncs both.
    func writeOutputs(_ plan: Plan) throws -> CopyResult {
        // Expired by the wall clock and by the clock of this process's writers (which may run
        // behind it): a record live by either is kept.
        let now = min(wallClockMicros(), latestStoreTime.load(ordering: .relaxed))
        var result = CopyResult()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        var file: FileRef?
        var flushed = 0

        func flush() throws {
            guard let f = file, !buffer.isEmpty else { return }
            try f.write(buffer, at: Int64(flushed))
            flushed += buffer.count
            buffer.removeAll(keepingCapacity: true)
        }
        func finish() throws {
            guard let f = file else { return }
            try flush()
            try f.sync()
            f.close()
            file = nil
            let o = result.outputs[result.outputs.count - 1]
            let hint = HintFile.encode(segmentID: o.id, segmentLength: Int64(o.length), entries: o.hints)
            let h = try FileRef.open(hintPath(o.id), flags: O_WRONLY | O_CREAT | O_TRUNC)
            defer { h.close() }
            try h.write(hint, at: 0)
            try h.sync()
        }
        func copy(_ seg: Segment, _ c: Candidate) throws {
            let h = c.header
            if file == nil || result.outputs[result.outputs.count - 1].length + h.length > options.segmentSize {
                try finish()
                let n = result.outputs.count
                guard n < Int(plan.idCount) else {
                    throw CaskError(.invalidArgument, "compaction needs more segments than it reserved", path: path)
                }
                result.outputs.append(Output(id: plan.firstID + UInt32(n)))
                file = try FileRef.open(segmentPath(result.outputs[n].id), flags: O_RDWR | O_CREAT | O_TRUNC)
                flushed = 0
            }
            let out = result.outputs.count - 1
            let offset = result.outputs[out].length
            let start = buffer.count
            buffer.append(contentsOf: UnsafeRawBufferPointer(start: seg.bytes(at: c.offset), count: h.length))
            if h.expireTime != c.expireTime {
                // Touched since it was written: carry the current expire time.
                buffer.withUnsafeMutableBytes { b in
                    let r = b.baseAddress! + start
                    r.putLE(c.expireTime, at: 24)
                    r.putLE(Checksum.crc32(UnsafeRawPointer(r + 4), h.length - 4), at: 0)
                }
            }
            result.outputs[out].hints.append(HintEntry(
                hash: c.hash, offset: UInt32(offset), length: UInt32(h.length), expireTime: c.expireTime,
                sequence: h.sequence, keyLength: UInt16(h.keyLength), tagLength: UInt16(h.tagLength),
                flags: h.flags.rawValue))
            result.moves.append(Move(hash: c.hash, old: LogPosition(segment: seg.id, offset: UInt32(c.offset)),
                                     segment: result.outputs[out].id, offset: UInt32(offset)))
            result.outputs[out].length += h.length
            if buffer.count >= 1 << 20 { try flush() }
        }

        do {
            for (seg, length) in zip(plan.sealed, plan.lengths) where length > 0 {
                try seg.ensureMapped(length)
                let base = seg.bytes(at: 0)
                var offset = 0
                var batch: [Candidate] = []
                batch.reserveCapacity(1024)
                while offset < length {
                    batch.removeAll(keepingCapacity: true)
                    // Collect up to 1024 put records (damaged ranges were reported at load; skip them).
                    while offset < length && batch.count < 1024 {
                        guard case .valid(let h) = RecordCodec.parse(base + offset, available: length - offset) else {
                            guard let next = Shard.resync(base, from: offset + 1, to: length, after: 0) else { offset = length; break }
                            offset = next
                            continue
                        }
                        if h.kind == .put {
                            let key = UnsafeRawBufferPointer(start: base + offset + RecordHeader.size, count: h.keyLength)
                            batch.append(Candidate(offset: offset, header: h, hash: KeyHash.hash(key)))
                        }
                        offset += h.length
                    }
                    // Ask the index which are live (the mutex only, briefly).
                    try withCurrentState { s in
                        let view = s.view
                        for i in batch.indices {
                            let c = batch[i]
                            let key = UnsafeRawBufferPointer(start: base + c.offset + RecordHeader.size, count: c.header.keyLength)
                            if let e = s.directory.find(hash: c.hash, key: key, matches: { view.keyMatches($0, key) }),
                               e.segment == seg.id, e.offset == UInt32(c.offset) {
                                batch[i].live = true
                                batch[i].expireTime = e.expireTime
                            }
                        }
                    }
                    for c in batch where c.live {
                        // Expired records are dropped, except those owning a value file: the typed
                        // layer removes those (and their files) itself.
                        if c.expireTime != 0 && c.expireTime <= now && !c.header.flags.contains(.valueInFile) {
                            result.drops.append(Drop(hash: c.hash, old: LogPosition(segment: seg.id, offset: UInt32(c.offset))))
                        } else {
                            try copy(seg, c)
                        }
                    }
                }
            }
            try finish()
        } catch {
            file?.close()
            for o in result.outputs { _ = Sys.unlink(segmentPath(o.id)); _ = Sys.unlink(hintPath(o.id)) }
            throw error
        }
        return result
    }

    /// Deletes segment and hint files the manifest does not name: left by a compaction or a roll
    /// that crashed before committing. Caller holds the write lock (no roll can be in flight) and
    /// the compaction lock (no compaction can be writing outputs).
    func removeOrphans(_ s: ShardState) throws {
        guard case .success(let names) = Sys.listDirectory(path) else { return }
        // The MANIFEST on disk can be newer than `s.manifest`: a replacement whose rename happened
        // but whose directory fsync failed was reported as failed. Spare what either one names.
        let onDisk = (try? readManifest())?.segments ?? []
        let named = s.manifest.segments + onDisk
        let live = Set(named.map { Segment.fileName($0.id) } + named.map { Segment.hintName($0.id) })
        for name in names where (name.hasSuffix(".log") || name.hasSuffix(".hint")) && !live.contains(name) {
            let stem = name.split(separator: ".").first.map(String.init) ?? ""
            guard stem.count == 8, stem.allSatisfy(\.isNumber) else { continue }
            _ = Sys.unlink(path + "/" + name)
        }
    }

    /// Removes every key: the manifest is replaced by one naming a single new, empty segment.
    func clear() throws -> (Int, [[UInt8]]) {
        let (count, old, files) = try withWriteLock { s -> (Int, [UInt32], [[UInt8]]) in
            try adoptDiskManifest(&s)
            let count = s.directory.count
            var files: [[UInt8]] = []
            if s.externalBytes > 0 {
                let view = s.view
                s.directory.forEach { _, _, e in
                    guard e.flags & RecordFlags.valueInFile.rawValue != 0, let seg = view.segment(e.segment) else { return }
                    let p = seg.bytes(at: Int(e.offset))
                    let h = RecordCodec.header(at: p)
                    files.append(Array(UnsafeRawBufferPointer(start: p + h.valueOffset, count: h.valueLength)))
                }
            }
            var next = s.manifest
            let id = next.nextSegmentID
            next.nextSegmentID += 1
            next.version += 1
            let old = next.segments.map(\.id)
            next.segments = [.init(id: id, hasHint: false)]
            let seg = try openSegment(id, create: true)
            beginManifestChange()
            try FileSystem.replaceAtomically(manifestPath, with: next.encoded(), directory: path)
            s.segments = [:]
            s.segmentLengths = [id: 0]
            s.active = seg
            s.manifest = next
            s.applied = LogPosition(segment: id, offset: 0)
            s.directory.removeAll()
            s.reservedKeys = 0
            s.externalBytes = 0
            s.hand = nil
            s.lapEnd = nil
            s.probationHand = nil
            s.ghost.removeAll()
            s.expiryHand = nil
            s.sharedVersion = next.version
            shared.store(.version, next.version)
            shared.store(.position, s.applied.packed)
            shared.raise(.durable, to: s.applied.packed)
            endManifestChange()
            return (count, old, files)
        }
        for id in old {
            _ = Sys.unlink(segmentPath(id))
            _ = Sys.unlink(hintPath(id))
        }
        return (count, files)
    }
}

/// Wall-clock time in microseconds since the Unix epoch (what expire times on disk are in).
public func wallClockMicros() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
}
