#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CaskStore

/// What ``Cache/check(fix:)`` found (and, with fix, repaired).
public struct CheckReport: Sendable, Equatable {
    /// What checking each shard's log found.
    public var shards: [ShardCheck] = []
    /// Entries whose value file is missing.
    public var missingValueFiles: [String] = []
    /// Entries whose value file has another size than its record says.
    public var sizeMismatches: [String] = []
    /// Value files no entry refers to (older than a minute, so writes in flight are not counted).
    public var orphanValueFiles: [String] = []
    /// True when `fix` was asked and repairs were made.
    public var repaired = false

    /// Valid records read, over all shards.
    public var recordsScanned: Int { shards.reduce(0) { $0 + $1.recordsScanned } }
    /// Damaged byte ranges, over all shards.
    public var corruptRanges: [RecoveryReport.CorruptRange] { shards.flatMap(\.corruptRanges) }
    /// Bytes past the committed end of active segments (torn writes).
    public var tornBytes: Int { shards.reduce(0) { $0 + $1.tornBytes } }
    /// Shards whose index and log disagree on the number of live entries.
    public var countMismatches: Int { shards.filter { $0.indexCount != $0.logCount }.count }

    /// True when nothing at all was found.
    public var isHealthy: Bool {
        shards.allSatisfy(\.isHealthy) && missingValueFiles.isEmpty && sizeMismatches.isEmpty && orphanValueFiles.isEmpty
    }
}

extension Cache {
    /// Verifies every record's checksum, the index against the log, and the value files (missing,
    /// wrong size, orphaned). With `fix`, repairs: cuts torn tails, rewrites damaged segments
    /// keeping every undamaged record, removes entries whose value file is lost, deletes orphans.
    public func check(fix: Bool = false) throws -> CheckReport {
        var report = CheckReport()
        report.shards = try store.check(fix: false)
        // File ages are judged by the real wall clock (file times are), not the cache's clock.
        let (damaged, orphans) = try store.auditValueFiles(orphanCutoff: Double(wallClockMicros()) / 1e6 - 60)
        for d in damaged {
            if d.missing { report.missingValueFiles.append(d.path) } else { report.sizeMismatches.append(d.path) }
        }
        report.orphanValueFiles = orphans
        guard fix, !report.isHealthy else { return report }

        report.shards = try store.check(fix: true)
        for d in damaged {
            // Only while the damaged record is still the key's record: a live value written since
            // stays (an expired or absent entry holds no value to keep).
            try store.mutate(d.key, now: now) { current -> (Mutation, Void) in
                (current == nil || current?.sequence == d.sequence ? .delete : .keep, ())
            }
        }
        for path in orphans { try store.removeOrphanValueFile(path) }
        var after = try check(fix: false)
        after.repaired = true
        return after
    }
}
