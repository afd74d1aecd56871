#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one compaction did.
public struct CompactionResult: Sendable, Equatable {
    public var shard: Int
    public var bytesBefore: Int
    public var bytesAfter: Int
    public var recordsCopied: Int
    /// Longest time the shard's lock was held by the compaction (the pause other operations saw).
    public var longestPauseNanos: Int64
}

extension Shard {
    /// Rewrites the live records of all sealed segments into new segments with hint files.
    ///
    /// 1. Under the write lock: seal the active segment; snapshot the index entries that point
    ///    into the sealed segments (the "old" prefix of the log).
    /// 2. Without any lock: copy those records into temporary files, write their hints, fsync.
    /// 3. Under the write lock: rename the files to fresh segment ids, replace the manifest
    ///    (outputs first, then every segment that was not compacted), publish the new version,
    ///    and point this process's index at the copies.
    /// 4. Remove the old segments and hints.
    ///
    /// Tombstones are dropped because everything older than them is in the compacted prefix.
    /// Returns nil if another compaction of the shard is running or (unless `force`) the shard is
    /// below the thresholds.
    func compact(force: Bool) throws -> CompactionResult? {
        guard compacting.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return nil }
        defer { compacting.store(false, ordering: .releasing) }
        let guardFile = try FileRef.open(path + "/compact.lock", flags: O_RDWR | O_CREAT)
        defer { guardFile.close() }
        guard case .success = Sys.flock(guardFile.fd, LOCK_EX | LOCK_NB) else { return nil }

        // Phase 1: seal and snapshot.
        var pause: Int64 = 0
        var t0 = monotonicNanos()
        let snapshot = try withWriteLock { (s) throws -> Snapshot? in
            if !force && !(s.deadBytes >= options.compactionMinimumDeadBytes
                           && Double(s.deadBytes) >= options.compactionDeadFraction * Double(s.totalBytes)) {
                return nil
            }
            try removeOrphans(s)
            // Reserve segment ids for the outputs (at most one per sealed segment plus one), then
            // seal the active segment; the roll persists the reservation in the manifest.
            let reserved = s.manifest.nextSegmentID
            let capacity = UInt32(2 * s.manifest.segments.count + 1)
            s.manifest.nextSegmentID += capacity
            try roll(&s)
            let sealed = s.manifest.segments.dropLast().map { s.segment($0.id)! }
            guard !sealed.isEmpty else { return nil }
            let order = s.order()
            var items: [(order: Int, offset: UInt32, entry: IndexEntry)] = []
            items.reserveCapacity(s.directory.count)
            let sealedIDs = Set(sealed.map(\.id))
            s.directory.forEach { _, _, e in
                if sealedIDs.contains(e.segment) { items.append((order[e.segment]!, e.offset, e)) }
            }
            items.sort { ($0.order, $0.offset) < ($1.order, $1.offset) }
            let before = sealed.reduce(0) { $0 + (s.segmentLengths[$1.id] ?? 0) }
            return Snapshot(sealed: sealed, entries: items.map(\.entry), bytesBefore: before,
                            firstID: reserved, idCount: capacity)
        }
        pause = max(pause, monotonicNanos() - t0)
        guard let snapshot else { return nil }

        // Phase 2: copy without holding the lock.
        let outputs = try writeOutputs(snapshot)

        // Phase 3: commit.
        t0 = monotonicNanos()
        let committed = try withWriteLock { (s) throws -> Bool in
            let sealedIDs = snapshot.sealed.map(\.id)
            guard s.manifest.segments.count > sealedIDs.count,
                  Array(s.manifest.segments.prefix(sealedIDs.count).map(\.id)) == sealedIDs else { return false }
            var next = s.manifest
            var newSegments: [Manifest.Segment] = []
            var opened: [Segment] = []
            for output in outputs {
                let seg = try openSegment(output.id, create: false)
                try seg.ensureMapped(output.length)
                opened.append(seg)
                newSegments.append(.init(id: output.id, hasHint: true))
            }
            next.segments = newSegments + s.manifest.segments.dropFirst(sealedIDs.count)
            next.version += 1
            try FileSystem.replaceAtomically(manifestPath, with: next.encoded(), directory: path)
            shared.store(.version, next.version)

            // Point this process's index at the copies.
            var moved: [UInt64: (UInt32, UInt32)] = [:]
            moved.reserveCapacity(snapshot.entries.count)
            for (i, output) in outputs.enumerated() {
                for (old, new) in output.moves { moved[old] = (opened[i].id, new) }
            }
            let removed = Set(sealedIDs)
            var dropped: [IndexEntry] = []
            s.directory.relocate { e in
                guard removed.contains(e.segment) else { return nil }
                guard let (seg, off) = moved[e.position.packed] else { dropped.append(e); return nil }
                var n = e
                n.segment = seg
                n.offset = off
                return n
            }
            for seg in snapshot.sealed {
                s.segments[seg.id] = nil
                s.segmentLengths[seg.id] = nil
            }
            for (i, seg) in opened.enumerated() {
                s.segments[seg.id] = seg
                s.segmentLengths[seg.id] = outputs[i].length
            }
            if !dropped.isEmpty {
                // Entries the copy skipped (expired, or damaged): remove them from the index.
                try dropEntries(&s, dropped)
            }
            s.manifest = next
            s.sharedVersion = next.version
            return true
        }
        pause = max(pause, monotonicNanos() - t0)
        guard committed else {
            for o in outputs { _ = Sys.unlink(segmentPath(o.id)); _ = Sys.unlink(hintPath(o.id)) }
            return nil
        }

        // Phase 4: the new manifest is durable; the old files can go.
        for seg in snapshot.sealed {
            _ = Sys.unlink(segmentPath(seg.id))
            _ = Sys.unlink(hintPath(seg.id))
        }
        return CompactionResult(shard: number, bytesBefore: snapshot.bytesBefore,
                                bytesAfter: outputs.reduce(0) { $0 + $1.length },
                                recordsCopied: outputs.reduce(0) { $0 + $1.hints.count }, longestPauseNanos: pause)
    }

    struct Snapshot {
        let sealed: [Segment]
        let entries: [IndexEntry]
        let bytesBefore: Int
        let firstID: UInt32
        let idCount: UInt32
    }

    struct Output {
        let id: UInt32
        var length = 0
        var hints: [HintEntry] = []
        /// Old packed position -> new offset in this output.
        var moves: [(UInt64, UInt32)] = []
    }

    /// Copies the snapshot's records (re-encoding those whose expire time was touched) into
    /// temporary segment files of at most `segmentSize` bytes each, with hint files; fsyncs both.
    func writeOutputs(_ snap: Snapshot) throws -> [Output] {
        let now = wallClockMicros()
        var outputs: [Output] = []
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        var file: FileRef?
        var flushed = 0
        let segments = Dictionary(uniqueKeysWithValues: snap.sealed.map { ($0.id, $0) })

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
            let o = outputs[outputs.count - 1]
            let hint = HintFile.encode(segmentID: o.id, segmentLength: Int64(o.length), entries: o.hints)
            let h = try FileRef.open(hintPath(o.id), flags: O_WRONLY | O_CREAT | O_TRUNC)
            defer { h.close() }
            try h.write(hint, at: 0)
            try h.sync()
        }

        do {
            for e in snap.entries {
                if e.isExpired(at: now) { continue }
                guard let seg = segments[e.segment] else { continue }
                let p = seg.bytes(at: Int(e.offset))
                guard case .valid(let h) = RecordCodec.parse(p, available: Int(e.length)), h.kind == .put else { continue }
                if file == nil || outputs[outputs.count - 1].length + h.length > options.segmentSize {
                    try finish()
                    let n = outputs.count
                    guard n < Int(snap.idCount) else {
                        throw CaskError(.invalidArgument, "compaction needs more segments than it reserved", path: path)
                    }
                    outputs.append(Output(id: snap.firstID + UInt32(n)))
                    file = try FileRef.open(segmentPath(outputs[n].id), flags: O_RDWR | O_CREAT | O_TRUNC)
                    flushed = 0
                }
                let offset = outputs[outputs.count - 1].length
                let start = buffer.count
                buffer.append(contentsOf: UnsafeRawBufferPointer(start: p, count: h.length))
                if h.expireTime != e.expireTime {
                    buffer.withUnsafeMutableBytes { b in
                        let r = b.baseAddress! + start
                        r.putLE(e.expireTime, at: 24)
                        r.putLE(Checksum.crc32(UnsafeRawPointer(r + 4), h.length - 4), at: 0)
                    }
                }
                let key = UnsafeRawBufferPointer(start: p + RecordHeader.size, count: h.keyLength)
                outputs[outputs.count - 1].hints.append(HintEntry(
                    hash: KeyHash.hash(key), offset: UInt32(offset), length: UInt32(h.length),
                    expireTime: e.expireTime, sequence: h.sequence,
                    keyLength: UInt16(h.keyLength), tagLength: UInt16(h.tagLength)))
                outputs[outputs.count - 1].moves.append((e.position.packed, UInt32(offset)))
                outputs[outputs.count - 1].length += h.length
                if buffer.count >= 1 << 20 { try flush() }
            }
            try finish()
        } catch let error as CaskError {
            file?.close()
            for o in outputs { _ = Sys.unlink(segmentPath(o.id)); _ = Sys.unlink(hintPath(o.id)) }
            throw error
        }
        return outputs
    }

    /// Deletes segment and hint files the manifest does not name: left by a compaction or a roll
    /// that crashed before committing. Caller holds the write lock (no roll can be in flight) and
    /// the compaction lock (no compaction can be writing outputs).
    func removeOrphans(_ s: ShardState) throws {
        guard case .success(let names) = Sys.listDirectory(path) else { return }
        let live = Set(s.manifest.segments.map { Segment.fileName($0.id) } + s.manifest.segments.map { Segment.hintName($0.id) })
        for name in names where (name.hasSuffix(".log") || name.hasSuffix(".hint")) && !live.contains(name) {
            let stem = name.split(separator: ".").first.map(String.init) ?? ""
            guard stem.count == 8, stem.allSatisfy(\.isNumber) else { continue }
            _ = Sys.unlink(path + "/" + name)
        }
    }

    /// Removes entries from the index by their exact position (used after compaction skipped them).
    func dropEntries(_ s: inout ShardState, _ entries: [IndexEntry]) throws {
        let positions = Set(entries.map { $0.position })
        var victims: [(UInt64?, [UInt8]?)] = []
        s.directory.forEach { h, k, e in if positions.contains(e.position) { victims.append((h, k)) } }
        for (h, k) in victims {
            if let k {
                k.withUnsafeBytes { key in _ = s.directory.remove(hash: KeyHash.hash(key), key: key) { _ in true } }
            } else if let h {
                s.directory.removeEntry(hash: h)
            }
        }
    }

    /// Removes every key: the manifest is replaced by one naming a single new, empty segment.
    func clear() throws -> Int {
        let (count, old) = try withWriteLock { (s) throws -> (Int, [UInt32]) in
            let count = s.directory.count
            var next = s.manifest
            let id = next.nextSegmentID
            next.nextSegmentID += 1
            next.version += 1
            let old = next.segments.map(\.id)
            next.segments = [.init(id: id, hasHint: false)]
            let seg = try openSegment(id, create: true)
            try FileSystem.replaceAtomically(manifestPath, with: next.encoded(), directory: path)
            s.segments = [:]
            s.segmentLengths = [id: 0]
            s.active = seg
            s.manifest = next
            s.applied = LogPosition(segment: id, offset: 0)
            s.directory.removeAll()
            s.sharedVersion = next.version
            shared.store(.version, next.version)
            shared.store(.position, s.applied.packed)
            shared.raise(.durable, to: s.applied.packed)
            return (count, old)
        }
        for id in old {
            _ = Sys.unlink(segmentPath(id))
            _ = Sys.unlink(hintPath(id))
        }
        return count
    }
}

/// Wall-clock time in microseconds since the Unix epoch (what expire times on disk are in).
public func wallClockMicros() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
}
