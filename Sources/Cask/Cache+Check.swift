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
        let t = now
        var referenced = Set<String>()
        var broken: [[UInt8]] = []
        for entry in try store.listEntries(now: Int64.min + 1) {
            guard let ref = try entry.key.withUnsafeBytes({ k in
                try store.read(k, now: Int64.min + 1) { v -> ValueFiles.Reference? in
                    v.flags & RecordFlags.valueInFile.rawValue != 0 ? ValueFiles.Reference(v.value) : nil
                }
            }), let ref else { continue }
            referenced.insert(ref.path)
            var st = stat()
            if stat(files.fullPath(ref), &st) != 0 {
                report.missingValueFiles.append(ref.path)
                broken.append(entry.key)
            } else if Int(st.st_size) != ref.size {
                report.sizeMismatches.append(ref.path)
                broken.append(entry.key)
            }
        }
        // File ages are judged by the real wall clock (file times are), not the cache's clock.
        let cutoff = Double(wallClockMicros()) / 1e6 - 60
        for path in files.allFiles() where !referenced.contains(path) {
            var st = stat()
            guard stat(files.root + "/" + path, &st) == 0, Double(st.st_mtim.tv_sec) < cutoff else { continue }
            report.orphanValueFiles.append(path)
        }
        guard fix, !report.isHealthy else { return report }

        report.shards = try store.check(fix: true)
        for key in broken {
            // A delete removes the entry even if it has expired meanwhile.
            _ = try store.mutate(key, now: t) { _ -> (Mutation, Void) in (.delete, ()) }
        }
        for path in report.orphanValueFiles { unlink(files.root + "/" + path) }
        var after = try check(fix: false)
        after.repaired = true
        return after
    }
}
