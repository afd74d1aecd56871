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
    /// Entries the repair removed (their value file was lost or damaged).
    public var removedKeys: [StoredKey] = []
    /// Entries flagged by the check but rewritten before the repair: kept with their new value.
    public var keptKeys: [StoredKey] = []
    /// The records of the entries flagged for removal, as the check saw them.
    var flagged: [Flagged] = []

    /// A damaged entry's record: removed only while it is still the current one.
    struct Flagged: Equatable {
        var key: [UInt8]
        var sequence: UInt64
        var reference: [UInt8]
    }

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
    /// wrong size, orphaned). With `fix`, repairs them: see ``repair(_:)``.
    public func check(fix: Bool = false) throws -> CheckReport {
        let found = try inspect()
        guard fix, !found.isHealthy else { return found }
        return try repair(found)
    }

    /// Repairs what a check found: cuts torn tails, rewrites damaged segments keeping every
    /// undamaged record, removes entries whose value file is lost or damaged, deletes orphans.
    /// An entry is removed only if its record is still the one the check flagged (compared
    /// atomically under the shard lock); one rewritten since keeps its new value and is listed in
    /// ``CheckReport/keptKeys``. Returns a fresh check with ``CheckReport/removedKeys`` naming
    /// every entry removed.
    public func repair(_ found: CheckReport) throws -> CheckReport {
        _ = try store.check(fix: true)
        var removed: [StoredKey] = []
        var kept: [StoredKey] = []
        for f in found.flagged {
            // Expired entries are seen too: a damaged one is removed even if it expired meanwhile.
            let deleted = try store.mutate(f.key, now: Int64.min + 1) { current -> (Mutation, Bool) in
                guard let current, current.sequence == f.sequence, current.flags & RecordFlags.valueInFile.rawValue != 0,
                      current.value.elementsEqual(f.reference) else { return (.keep, false) }
                return (.delete, true)
            }
            if deleted { removed.append(StoredKey(bytes: f.key)) } else { kept.append(StoredKey(bytes: f.key)) }
        }
        // Each is checked again: an orphan a write has taken since is kept.
        for path in found.orphanValueFiles { try store.removeOrphanValueFile(path) }
        var after = try inspect()
        after.repaired = true
        after.removedKeys = removed
        after.keptKeys = kept
        return after
    }

    func inspect() throws -> CheckReport {
        var report = CheckReport()
        report.shards = try store.check(fix: false)
        // File ages are judged by the real wall clock (file times are), not the cache's clock.
        let (damaged, orphans) = try store.auditValueFiles(orphanCutoff: Double(wallClockMicros()) / 1e6 - 60)
        for d in damaged {
            if d.missing { report.missingValueFiles.append(d.path) } else { report.sizeMismatches.append(d.path) }
        }
        report.orphanValueFiles = orphans
        report.flagged = damaged.map { CheckReport.Flagged(key: $0.key, sequence: $0.sequence, reference: $0.reference) }
        return report
    }
}
