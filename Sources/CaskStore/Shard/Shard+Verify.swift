#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What checking one shard found.
public struct ShardCheck: Sendable, Equatable {
    /// The shard checked.
    public var shard: Int
    /// Valid records read from the segments.
    public var recordsScanned = 0
    /// Damaged byte ranges (corruption).
    public var corruptRanges: [RecoveryReport.CorruptRange] = []
    /// Bytes past the committed end of the active segment (a torn write).
    public var tornBytes = 0
    /// Hint files that failed validation.
    public var rejectedHints = 0
    /// Live entries per the index of this process, and per a fresh read of the log.
    public var indexCount = 0
    public var logCount = 0

    /// True when nothing was found.
    public var isHealthy: Bool { corruptRanges.isEmpty && tornBytes == 0 && rejectedHints == 0 && indexCount == logCount }
}

extension Shard {
    /// Reads every record of every live segment under the write lock and compares what they say
    /// with this process's index.
    func check() throws -> ShardCheck {
        try withWriteLock { s in
            var result = ShardCheck(shard: number)
            var fresh = ShardState(manifest: s.manifest, segments: s.segments, active: s.active,
                                   applied: LogPosition(segment: s.active.id, offset: 0), tagIndex: false)
            var report = RecoveryReport()
            for entry in s.manifest.segments {
                guard let seg = s.segment(entry.id) else { continue }
                if entry.hasHint {
                    var probe = fresh
                    probe.directory.removeAll()
                    if !Shard.loadHint(&probe, seg, path: hintPath(entry.id), report: &report) { continue }
                }
                let end = seg === s.active ? Int(s.applied.offset) : Int(try seg.file.size())
                let valid = try Shard.scanSegment(&fresh, seg, from: 0, to: end, shard: number, report: &report)
                if valid < end {
                    report.noteCorrupt(.init(shard: number, segment: seg.id, offset: valid, length: end - valid))
                }
            }
            // Past the committed end: zeros are space allocated ahead; anything else is torn.
            let size = Int(try s.active.file.size())
            if size > Int(s.applied.offset) { try s.active.ensureMapped(size) }
            result.tornBytes = max(0, s.active.dataEnd(from: Int(s.applied.offset), to: size) - Int(s.applied.offset))
            result.recordsScanned = report.scannedRecords
            result.corruptRanges = report.corruptRanges
            result.rejectedHints = report.rejectedHints
            result.indexCount = s.directory.count
            result.logCount = fresh.directory.count
            return result
        }
    }

    /// Repairs what `check` found: cuts a torn tail, rewrites damaged or badly hinted segments by
    /// compaction (which copies only valid live records), and rebuilds the index from the log.
    func repair(_ found: ShardCheck) throws {
        if found.tornBytes > 0 {
            try withWriteLock { s in
                try cut(s.active, to: Int(s.applied.offset))
                try s.active.file.sync()
            }
        }
        if !found.corruptRanges.isEmpty || found.rejectedHints > 0 {
            _ = try compact(force: true)
        }
        try withWriteLock { s in try reload(&s, manifest: try readManifest(), exclusive: true) }
    }
}

extension Store {
    /// Checks every shard; with `fix`, repairs what it can and checks again.
    public func check(fix: Bool) throws -> [ShardCheck] {
        var results = try shards.map { try $0.check() }
        guard fix, results.contains(where: { !$0.isHealthy }) else { return results }
        for (shard, found) in zip(shards, results) where !found.isHealthy { try shard.repair(found) }
        results = try shards.map { try $0.check() }
        return results
    }
}
