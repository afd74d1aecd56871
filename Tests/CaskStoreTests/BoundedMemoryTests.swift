import CaskTestSupport
import Foundation
import Testing
@testable import CaskStore

/// Per-shard memory that must not grow with history: the tag table holds only tags of live
/// entries, and the recovery report lists a damaged range once, up to a cap.
@Suite("Bounded memory")
struct BoundedMemoryTests {
    func tagCount(_ store: Store) throws -> Int {
        try store.shards.reduce(0) { n, sh in try n + sh.withCurrentState { $0.directory.tags.count } }
    }

    @Test(arguments: [false, true])
    func tagTableDropsTagsNoLiveEntryUses(tagIndex: Bool) throws {
        let dir = TemporaryDirectory("cask-tags")
        var options = StoreOptions.testing(shards: 2, segmentSize: 64 << 10)
        options.tagIndex = tagIndex
        let store = try Store(directory: dir.path, options: options)
        let other = try Store(directory: dir.path, options: options)
        let n = 2000
        for i in 0..<n { try store.put(bytes("k\(i)"), bytes("v"), tag: bytes("tag-\(i)")) }
        #expect(try tagCount(store) == n)
        // Overwritten with one shared tag, then half deleted: the unique tags are gone.
        for i in 0..<n { try store.put(bytes("k\(i)"), bytes("w"), tag: bytes("shared")) }
        #expect(try tagCount(store) <= 2, "one tag per shard at most")
        for i in 0..<n / 2 { try store.delete(bytes("k\(i)")) }
        for i in n / 2..<n { try store.put(bytes("k\(i)"), bytes("x")) }
        #expect(try tagCount(store) == 0)
        // Another handle following the same history (catching up, then rebuilding after a
        // compaction) ends up with no tags either.
        #expect(try other.get(bytes("k\(n - 1)")) == bytes("x"))
        #expect(try tagCount(other) == 0)
        try store.compact()
        #expect(try other.get(bytes("k\(n - 1)")) == bytes("x"))
        #expect(try tagCount(other) == 0)
        // Clear drops every tag, in this handle and the other.
        for i in 0..<n { try store.put(bytes("k\(i)"), bytes("v"), tag: bytes("again-\(i)")) }
        #expect(try tagCount(store) == n)
        try store.clear()
        #expect(try tagCount(store) == 0)
        #expect(try other.get(bytes("k0")) == nil)
        #expect(try tagCount(other) == 0)
        // A tag dropped and interned again never aliases another tag: removing by tag removes
        // exactly the entries that carry it.
        try store.put(bytes("a"), bytes("1"), tag: bytes("x"))
        try store.delete(bytes("a"))
        try store.put(bytes("b"), bytes("2"), tag: bytes("y"))
        try store.put(bytes("c"), bytes("3"), tag: bytes("x"))
        #expect(try store.removeTagged(bytes("x"), now: wallClockMicros()).map { text($0.key) } == ["c"])
        #expect(try store.get(bytes("b")) == bytes("2"))
        #expect(try store.get(bytes("c")) == nil)
        #expect(try store.checkInvariants() == nil)
        try other.close()
        try store.close()
    }

    /// A one-shard store of `n` keys compacted into a hinted segment, with the value of every
    /// record damaged on disk (hint loading does not read values, so the damage shows on read).
    func damagedHintedStore(_ dir: TemporaryDirectory, keys n: Int) throws {
        let store = try Store(directory: dir.path, options: .testing(shards: 1, segmentSize: 1 << 20))
        for i in 0..<n { try store.put(bytes("k\(i)"), bytes("value-\(i)")) }
        try store.compact()
        let manifest = try store.shards[0].readManifest()
        try store.close()
        let firstHinted = manifest.segments.first { $0.hasHint }
        let hinted = try #require(firstHinted)
        let path = dir.path + "/shard-000/" + Segment.fileName(hinted.id)
        var log = readFile(path)
        var offset = 0, damaged = 0
        while offset + RecordHeader.size <= log.count {
            let h = log.withUnsafeBytes { RecordCodec.header(at: $0.baseAddress! + offset) }
            log[offset + h.valueOffset] ^= 0xFF
            damaged += 1
            offset += h.length
        }
        writeFile(path, log)
        #expect(damaged == n)
    }

    @Test func repeatedReadsOfADamagedRecordAreReportedOnce() throws {
        let dir = TemporaryDirectory("cask-damaged-reads")
        try damagedHintedStore(dir, keys: 3)
        let store = try Store(directory: dir.path, options: .testing(shards: 1, segmentSize: 1 << 20))
        #expect(store.recoveryReport.isClean)
        for _ in 0..<10_000 { #expect(try store.get(bytes("k1")) == nil) }
        let report = store.recoveryReport
        #expect(report.corruptRanges.count == 1, "\(report.corruptRanges.count) ranges listed")
        #expect(report.unlistedCorruptRanges == 0)
        #expect(!report.isClean)
        try store.close()
    }

    @Test func theCorruptRangeListIsCapped() throws {
        let dir = TemporaryDirectory("cask-damaged-cap")
        let n = RecoveryReport.maxListedRanges + 150
        try damagedHintedStore(dir, keys: n)
        let store = try Store(directory: dir.path, options: .testing(shards: 1, segmentSize: 1 << 20))
        for _ in 0..<2 {
            for i in 0..<n { #expect(try store.get(bytes("k\(i)")) == nil) }
        }
        let report = store.recoveryReport
        #expect(report.corruptRanges.count == RecoveryReport.maxListedRanges)
        #expect(report.unlistedCorruptRanges > 0, "the ranges beyond the cap are counted")
        try store.close()
    }
}
