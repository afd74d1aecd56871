#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

// Loading a shard's index: at open (with recovery of torn tails), and when another process has
// changed the set of segments (roll, compaction, clear).

extension Shard {
    /// Opens and loads the shard under the exclusive lock (held by the caller), repairing a torn
    /// tail. `headerIsLive` tells whether the shared header was written during this boot: then its
    /// committed position is a floor below which nothing may be truncated (other processes may read it).
    static func recover(path: String, number: Int, options: StoreOptions, shared: SharedHeader,
                        headerIsLive: Bool) throws -> (ShardState, RecoveryReport) {
        let manifestPath = path + "/MANIFEST"
        var manifest: Manifest
        if FileSystem.exists(manifestPath) {
            let file = try FileRef.open(manifestPath, flags: O_RDONLY)
            defer { file.close() }
            manifest = try Manifest.decode(try file.readAll(limit: 64 << 20), path: manifestPath)
        } else {
            let names: [String]
            switch Sys.listDirectory(path) {
            case .success(let n): names = n
            case .failure(let e): throw CaskError.io("cannot list shard directory", path: path, errno: e)
            }
            // Creation makes an empty first segment, then the manifest: a crash in between leaves
            // an empty segment, which is safe to start over. Data is only written once a manifest exists.
            for name in names where name.hasSuffix(".log") {
                guard case .success(let st) = Sys.stat(path: path + "/" + name), st.st_size == 0 else {
                    throw CaskError(.corrupted, "shard has segments but no MANIFEST", path: path)
                }
            }
            manifest = Manifest(version: 1, nextSegmentID: 2, segments: [.init(id: 1, hasHint: false)])
            let first = try FileRef.open(path + "/" + Segment.fileName(1), flags: O_RDWR | O_CREAT | O_TRUNC)
            first.close()
            try FileSystem.replaceAtomically(manifestPath, with: manifest.encoded(), directory: path)
        }
        guard !manifest.segments.isEmpty else { throw CaskError(.corrupted, "manifest lists no segment", path: manifestPath) }

        var segments: [UInt32: Segment] = [:]
        for entry in manifest.segments {
            let file = try FileRef.open(path + "/" + Segment.fileName(entry.id), flags: O_RDWR)
            segments[entry.id] = Segment(id: entry.id, file: file, mapGranule: options.segmentSize)
        }
        let active = segments[manifest.segments.last!.id]!
        var s = ShardState(manifest: manifest, segments: segments, active: active,
                           applied: LogPosition(segment: active.id, offset: 0), tagIndex: options.tagIndex)
        var report = RecoveryReport()
        let committed = LogPosition(packed: shared.load(.position))
        for (i, entry) in manifest.segments.enumerated() {
            let seg = segments[entry.id]!
            let isLast = i == manifest.segments.count - 1
            if entry.hasHint, loadHint(&s, seg, path: path + "/" + Segment.hintName(entry.id), report: &report) {
                continue
            }
            let size = Int(try seg.file.size())
            let validEnd = try scanSegment(&s, seg, from: 0, to: size, shard: number, report: &report)
            var length = size
            if validEnd < size {
                let floor = headerIsLive && committed.segment == seg.id ? Int(committed.offset) : 0
                if isLast && validEnd >= floor {
                    // Zeros after the last record are space allocated ahead: kept. Anything else
                    // there is a record cut short (a crash, a power loss): cut, with that space.
                    let dataEnd = seg.dataEnd(from: validEnd, to: size)
                    if dataEnd > validEnd {
                        try cut(seg, to: validEnd, shared: shared)
                        try seg.file.sync()
                        report.truncatedBytes += dataEnd - validEnd
                    }
                    length = validEnd
                } else {
                    report.noteCorrupt(.init(shard: number, segment: seg.id, offset: validEnd, length: size - validEnd))
                }
            }
            s.segmentLengths[seg.id] = length
            if isLast { s.applied = LogPosition(segment: seg.id, offset: UInt32(length)) }
        }
        if shared.load(.manifestChange) != 0 {
            // A manifest change died or failed after marking itself: the manifest just loaded is
            // the one in force; make its rename durable before anything is written on top of it.
            try FileSystem.syncDirectory(path)
            shared.store(.manifestChange, 0)
        }
        s.sharedVersion = max(shared.load(.version), manifest.version)
        shared.store(.version, s.sharedVersion)
        shared.store(.position, s.applied.packed)
        shared.store(.writer, 0)
        shared.raise(.nextSequence, to: s.maxSequence + 1)
        if !headerIsLive { shared.store(.durable, s.applied.packed) }
        return (s, report)
    }

    /// Loads a hint file into the index. Returns false (and counts a rejected hint) if it is invalid.
    static func loadHint(_ s: inout ShardState, _ seg: Segment, path: String, report: inout RecoveryReport) -> Bool {
        do {
            let file = try FileRef.open(path, flags: O_RDONLY)
            defer { file.close() }
            let (length, entries) = try HintFile.decode(try file.readAll(limit: 1 << 31), segmentID: seg.id, path: path)
            guard try seg.file.size() >= length else {
                throw CaskError(.corrupted, "segment shorter than its hint file says", path: seg.file.path)
            }
            try seg.ensureMapped(Int(length))
            s.directory.reserve(s.directory.count + entries.count)
            let view = s.view
            for e in entries {
                // The record itself is only touched for tagged entries (and hash collisions).
                var tag: UInt32 = 0
                if e.tagLength > 0 {
                    let p = seg.bytes(at: Int(e.offset) + RecordHeader.size + Int(e.keyLength))
                    tag = s.directory.internTag(UnsafeRawBufferPointer(start: p, count: Int(e.tagLength)))
                }
                let entry = IndexEntry(segment: seg.id, offset: e.offset, length: e.length, tag: tag, expireTime: e.expireTime,
                                       flags: e.flags)
                let old = s.directory.insertLoaded(hash: e.hash, entry: entry, keyOf: view.keyOf)
                if (e.flags | (old?.flags ?? 0)) & RecordFlags.valueInFile.rawValue != 0 {
                    s.externalBytes += view.externalSize(entry) - (old.map(view.externalSize) ?? 0)
                }
                if e.sequence > s.maxSequence { s.maxSequence = e.sequence }
            }
            s.segmentLengths[seg.id] = Int(length)
            return true
        } catch {
            report.rejectedHints += 1
            return false
        }
    }

    /// Applies the valid records in [from, to) of `seg` to the index. Damage followed by valid
    /// records is skipped and reported; returns the end of the last valid record.
    static func scanSegment(_ s: inout ShardState, _ seg: Segment, from: Int, to end: Int, shard: Int,
                            report: inout RecoveryReport) throws -> Int {
        guard end > from else { return from }
        try seg.ensureMapped(end)
        let base = seg.bytes(at: 0)
        var offset = from
        var lastSequence: UInt64 = from == 0 ? 0 : s.maxSequence
        while offset < end {
            if case .valid(let h) = RecordCodec.parse(base + offset, available: end - offset), h.sequence > lastSequence {
                apply(&s, seg, offset: offset, header: h)
                lastSequence = h.sequence
                report.scannedRecords += 1
                offset += h.length
                continue
            }
            // Only zeros left (space allocated ahead of the writers): the end, found without a
            // byte-by-byte search for a record start.
            if seg.dataEnd(from: offset, to: end) == offset { return offset }
            guard let next = resync(base, from: offset + 1, to: end, after: lastSequence) else { return offset }
            report.noteCorrupt(.init(shard: shard, segment: seg.id, offset: offset, length: next - offset))
            offset = next
        }
        return offset
    }

    /// The first offset in [from, end) where a complete, valid, newer record starts.
    static func resync(_ base: UnsafeRawPointer, from: Int, to end: Int, after sequence: UInt64) -> Int? {
        var o = from
        while o + RecordHeader.size <= end {
            if base.load(fromByteOffset: o + 4, as: UInt8.self) == 0x5C,
               base.load(fromByteOffset: o + 5, as: UInt8.self) == 0xCA,
               case .valid(let h) = RecordCodec.parse(base + o, available: end - o), h.sequence > sequence {
                return o
            }
            o += 1
        }
        return nil
    }

    /// Applies one validated record to the index.
    static func apply(_ s: inout ShardState, _ seg: Segment, offset: Int, header h: RecordHeader) {
        let p = seg.bytes(at: offset)
        let key = UnsafeRawBufferPointer(start: p + RecordHeader.size, count: h.keyLength)
        let hash = KeyHash.hash(key)
        let view = s.view
        switch h.kind {
        case .put:
            let tag = s.directory.internTag(UnsafeRawBufferPointer(start: p + h.tagOffset, count: h.tagLength))
            var entry = IndexEntry(segment: seg.id, offset: UInt32(offset), length: UInt32(h.length), tag: tag,
                                   expireTime: h.expireTime, flags: h.flags.rawValue)
            entry.checked = true  // `parse` checked its CRC
            s.setEntry(hash: hash, key: key, entry)
        case .delete:
            s.removeEntry(hash: hash, key: key)
        case .touch:
            _ = s.directory.update(hash: hash, key: key, matches: { view.keyMatches($0, key) }) { $0.expireTime = h.expireTime }
        }
        if h.sequence > s.maxSequence { s.maxSequence = h.sequence }
    }

    func readManifest() throws -> Manifest {
        let file = try FileRef.open(manifestPath, flags: O_RDONLY)
        defer { file.close() }
        return try Manifest.decode(try file.readAll(limit: 64 << 20), path: manifestPath)
    }

    /// Brings this process's view up to what the shared header says is committed.
    /// `exclusive`: the caller holds the write lock (else a full reload takes a shared lock).
    func catchUp(_ s: inout ShardState, exclusive: Bool) throws {
        var scratch = RecoveryReport()
        defer { if !scratch.corruptRanges.isEmpty { report.withLock { $0.merge(scratch) } } }
        for attempt in 0..<64 {
            let version = shared.load(.version)
            if version != s.sharedVersion {
                let m = try readManifest()
                if m.version != s.manifest.version {
                    if isAppend(from: s.manifest, to: m) {
                        do {
                            try followRoll(&s, to: m, report: &scratch)
                        } catch let error as CaskError where error.errno == ENOENT {
                            // The manifest was read without a lock: a compaction elsewhere may have
                            // committed and removed a segment it named since. Rebuild from the
                            // manifest now in force, under the lock.
                            try reload(&s, manifest: try readManifest(), exclusive: exclusive)
                        }
                    } else {
                        try reload(&s, manifest: m, exclusive: exclusive)
                    }
                }
                s.sharedVersion = version
            }
            let position = LogPosition(packed: shared.load(.position))
            guard position.segment == s.active.id else {
                // A roll is between renaming the manifest and publishing it (wait for it), or a
                // process died there. Under the write lock nothing is in flight, so it died: adopt
                // the manifest on disk; once this view follows it, nobody can have written to its
                // new active segment, so the committed position is this view's start of it.
                if exclusive {
                    let disk = try readManifest()
                    if disk.version > shared.load(.version) {
                        shared.store(.version, disk.version)
                        continue
                    }
                    // The manifest on disk is the truth; if this view differs from it in any way
                    // (even under an equal version number), rebuild from it.
                    if disk != s.manifest {
                        try reload(&s, manifest: disk, exclusive: true)
                        s.sharedVersion = shared.load(.version)
                    }
                    if disk.segments.last?.id == s.active.id {
                        shared.store(.position, s.applied.packed)
                    }
                } else if attempt >= 8 {
                    try lockExclusive()
                    defer { unlock() }
                    return try catchUp(&s, exclusive: true)
                }
                continue
            }
            if position.offset > s.applied.offset {
                _ = try Shard.scanSegment(&s, s.active, from: Int(s.applied.offset), to: Int(position.offset),
                                          shard: number, report: &scratch)
                s.applied = position
                s.segmentLengths[s.active.id] = Int(position.offset)
            } else if position.offset < s.applied.offset {
                // Only a reinitialized header can move backwards: rebuild from the files.
                try reload(&s, manifest: try readManifest(), exclusive: exclusive)
                continue
            }
            return
        }
        let disk = try? readManifest()
        let position = LogPosition(packed: shared.load(.position))
        throw CaskError(.corrupted, "the shared header keeps naming a segment missing from the manifest "
                        + "(header: version \(shared.load(.version)), position \(position.segment):\(position.offset); "
                        + "this view: version \(s.manifest.version), active \(s.active.id); on disk: version "
                        + "\(disk.map { String($0.version) } ?? "?"), segments \(disk.map { $0.segments.map(\.id) } ?? []))",
                        path: path)
    }

    /// True when `new` only appends segments to `old` (rolls), so the index can be extended.
    func isAppend(from old: Manifest, to new: Manifest) -> Bool {
        new.segments.count >= old.segments.count && Array(new.segments.prefix(old.segments.count)) == old.segments
    }

    /// Another process sealed our active segment and started new ones: read the rest of the old
    /// active segment (its file size is final once sealed) and the sealed new ones.
    func followRoll(_ s: inout ShardState, to m: Manifest, report: inout RecoveryReport) throws {
        let sealedEnd = Int(try s.active.file.size())
        _ = try Shard.scanSegment(&s, s.active, from: Int(s.applied.offset), to: sealedEnd, shard: number, report: &report)
        s.segmentLengths[s.active.id] = sealedEnd
        for entry in m.segments.dropFirst(s.manifest.segments.count) {
            let seg = try openSegment(entry.id, create: false)
            s.segments[s.active.id] = s.active
            s.segments[seg.id] = seg
            s.active = seg
            s.applied = LogPosition(segment: seg.id, offset: 0)
            s.segmentLengths[seg.id] = 0
            if entry != m.segments.last! {
                let size = Int(try seg.file.size())
                _ = try Shard.scanSegment(&s, seg, from: 0, to: size, shard: number, report: &report)
                s.segmentLengths[seg.id] = size
            }
        }
        s.manifest = m
    }

    /// Rebuilds the index from the files of manifest `m` (after a compaction or clear elsewhere).
    func reload(_ s: inout ShardState, manifest m: Manifest, exclusive: Bool) throws {
        if !exclusive { try lockExclusive() }
        defer { if !exclusive { unlock() } }
        // Under the lock the manifest and committed position are stable; read them again.
        let m = try readManifest()
        let committed = LogPosition(packed: shared.load(.position))
        var segments: [UInt32: Segment] = [:]
        for entry in m.segments {
            segments[entry.id] = try s.segment(entry.id) ?? openSegment(entry.id, create: false)
        }
        let active = segments[m.segments.last!.id]!
        var fresh = ShardState(manifest: m, segments: segments, active: active,
                               applied: LogPosition(segment: active.id, offset: 0), tagIndex: options.tagIndex)
        fresh.directory.inheritTags(of: s.directory)
        fresh.writeBuffer = s.writeBuffer
        fresh.droppedFiles = s.droppedFiles
        var scratch = RecoveryReport()
        for entry in m.segments {
            let seg = segments[entry.id]!
            if entry.hasHint, Shard.loadHint(&fresh, seg, path: hintPath(entry.id), report: &scratch) { continue }
            let committedHere = seg === active && committed.segment == active.id
            let end = committedHere ? Int(committed.offset) : Int(try seg.file.size())
            let valid = try Shard.scanSegment(&fresh, seg, from: 0, to: end, shard: number, report: &scratch)
            // An active segment the header does not name (a roll that died before publishing it)
            // counts only up to its last valid record: what follows was never committed.
            fresh.segmentLengths[seg.id] = seg === active && !committedHere ? valid : end
        }
        fresh.directory.dropUnusedTags()
        fresh.applied = LogPosition(segment: active.id, offset: UInt32(fresh.segmentLengths[active.id] ?? 0))
        fresh.sharedVersion = shared.load(.version)
        fresh.maxSequence = max(fresh.maxSequence, s.maxSequence)
        let replaced = ReleasedState(s)
        s = fresh
        Shard.releaseInBackground(replaced)
        if !scratch.isClean { report.withLock { $0.merge(scratch) } }
    }

    /// The queue that releases replaced shard states (tests suspend it to see a close wait).
    static let releaseQueue = DispatchQueue(label: "cask.release", qos: .utility)
    /// Releases still queued: ``waitForReleases()`` waits for them.
    private static let pendingReleases = DispatchGroup()

    /// Releases a replaced state, which `held` alone refers to (its index, and the segments only it
    /// still held: their mappings and descriptors), on a background queue, not under the caller's
    /// locks. The last close of a segment file another process's compaction unlinked frees the
    /// file's blocks, and on some file systems that waits for the device (ext4 mounted with
    /// `discard` discards them synchronously); a reader, or a writer holding the shard's write
    /// lock, must not wait for that.
    static func releaseInBackground(_ held: ReleasedState) {
        pendingReleases.enter()
        releaseQueue.async {
            held.state = nil
            pendingReleases.leave()
        }
    }

    /// Waits until every state handed to ``releaseInBackground(_:)`` so far is released (a closed
    /// store leaves no descriptor of its own open behind it).
    static func waitForReleases() { pendingReleases.wait() }
}

/// A replaced shard state on its way to the release queue. @unchecked: nothing else refers to the
/// state, and only the queue's block touches it.
final class ReleasedState: @unchecked Sendable {
    var state: ShardState?
    init(_ state: ShardState) { self.state = state }
}
