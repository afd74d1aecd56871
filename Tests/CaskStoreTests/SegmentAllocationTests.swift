import CaskTestSupport
import Foundation
import Testing
@testable import CaskStore

/// The active segment is allocated ahead of its writers (`Shard.allocate(_:through:)`): most
/// appends find their space ready, a full disk fails an append before any of its bytes are
/// written, a file system without fallocate still works, and a sealed segment keeps no zeros.
extension FaultInjectionTests {
    static func segmentFile(_ dir: TemporaryDirectory, _ id: UInt32 = 1) -> String {
        dir.sub("shard-000/" + Segment.fileName(id))
    }

    static func fileSize(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : -1
    }

    /// A one-shard store with 1 MiB segments (`segmentSize` otherwise).
    static func openAllocating(_ dir: TemporaryDirectory, segmentSize: Int = 1 << 20) throws -> Store {
        try Store(directory: dir.path, options: .testing(shards: 1, segmentSize: segmentSize))
    }

    /// Opens the store under `faults` (installed by the caller, so its files' calls are seen) and
    /// returns it with the number of `fallocate` calls opening made.
    static func openUnder(_ faults: ScriptedFaults, _ dir: TemporaryDirectory) throws -> (store: Store, fallocatesAtOpen: Int) {
        let store = try openAllocating(dir)
        return (store, faults.calls(.fallocate))
    }

    /// Reopens the store: recovery finds nothing torn or damaged, and it holds `count` keys.
    static func expectReopenedClean(_ dir: TemporaryDirectory, count: Int, segmentSize: Int = 1 << 20,
                                    _ more: (Store) throws -> Void = { _ in }) throws {
        let again = try openAllocating(dir, segmentSize: segmentSize)
        #expect(again.recoveryReport.isClean, "\(again.recoveryReport)")
        #expect(try again.count == count)
        try more(again)
        try again.close()
    }

    @Test func appendsFindTheirSpaceAllocatedAhead() throws {
        let dir = TemporaryDirectory("cask-allocate-ahead")
        let faults = ScriptedFaults(root: dir.path)
        let (store, atOpen) = try withFaults(faults) {
            let (store, atOpen) = try Self.openUnder(faults, dir)
            for i in 0..<100 { try store.put(bytes("key-\(i)"), bytes("value-\(i)")) }
            return (store, atOpen)
        }
        // About 6 KB of records: one allocation covered them all, 64-128 KiB for a small log.
        #expect(faults.calls(.fallocate) - atOpen == 1)
        let size = Self.fileSize(Self.segmentFile(dir))
        #expect(size >= Shard.allocationMinimum && size <= 2 * Shard.allocationMinimum)
        #expect(size > committedEnd(store))
        // Statistics count records, not the space allocated after them.
        #expect(try store.statistics()[0].logBytes == committedEnd(store))
        try store.close()
        try Self.expectReopenedClean(dir, count: 100) { (again: Store) throws in
            #expect(text(try again.get(bytes("key-99"))) == "value-99")
        }
    }

    @Test func fullDiskWhileAllocatingFailsTheAppendBeforeWritingIt() throws {
        let dir = TemporaryDirectory("cask-allocate-full")
        // Larger than the space allocated ahead of the first record: the append must allocate.
        let big = [UInt8](repeating: 7, count: 2 * Shard.allocationMinimum)
        let faults = ScriptedFaults(root: dir.path)
        let (store, end, writes) = try withFaults(faults) {
            let (store, _) = try Self.openUnder(faults, dir)
            try store.put(bytes("a"), bytes("kept"))
            let end = committedEnd(store), writes = faults.calls(.pwrite)
            faults.add(.init(calls: [.fallocate], pathContains: ".log", times: 2, fault: .fail(ENOSPC)))
            let error = #expect(throws: CaskError.self) { try store.put(bytes("big"), big) }
            #expect(error?.isDiskFull == true, "\(String(describing: error))")
            return (store, end, faults.calls(.pwrite) - writes)
        }
        // The space ahead was refused, then the record's own: nothing of it was written.
        #expect(faults.injected == 2)
        #expect(writes == 0)
        #expect(committedEnd(store) == end)
        #expect(text(try store.get(bytes("a"))) == "kept")
        #expect(try store.get(bytes("big")) == nil)
        // Space is back.
        try store.put(bytes("big"), big)
        try store.close()
        try Self.expectReopenedClean(dir, count: 2) { (again: Store) throws in
            #expect(try again.get(bytes("big")) == big)
            #expect(text(try again.get(bytes("a"))) == "kept")
        }
    }

    /// Room for the record but not for the space ahead: the record is written.
    @Test func fullDiskForTheSpaceAheadStillWritesTheRecord() throws {
        let dir = TemporaryDirectory("cask-allocate-tight")
        let faults = ScriptedFaults(root: dir.path)
        let (store, calls) = try withFaults(faults) {
            let (store, atOpen) = try Self.openUnder(faults, dir)
            faults.add(.init(calls: [.fallocate], pathContains: ".log", times: 1, fault: .fail(ENOSPC)))
            try store.put(bytes("k"), bytes("v"))
            return (store, faults.calls(.fallocate) - atOpen)
        }
        #expect(faults.injected == 1 && calls == 2)
        #expect(Self.fileSize(Self.segmentFile(dir)) == committedEnd(store))
        #expect(text(try store.get(bytes("k"))) == "v")
        try store.close()
    }

    @Test func withoutFallocateAppendsExtendTheFile() throws {
        let dir = TemporaryDirectory("cask-allocate-unsupported")
        let faults = ScriptedFaults(root: dir.path)
        let (store, calls) = try withFaults(faults) {
            let (store, atOpen) = try Self.openUnder(faults, dir)
            faults.add(.init(calls: [.fallocate], pathContains: ".log", times: 1, fault: .fail(EOPNOTSUPP)))
            for i in 0..<20 { try store.put(bytes("key-\(i)"), bytes("value-\(i)")) }
            return (store, faults.calls(.fallocate) - atOpen)
        }
        // Asked once; then the segment is written as a plain growing file.
        #expect(calls == 1)
        #expect(Self.fileSize(Self.segmentFile(dir)) == committedEnd(store))
        try store.close()
        try Self.expectReopenedClean(dir, count: 20)
    }

    /// Processes following a roll read a sealed segment up to its file size: the roll cuts the
    /// space allocated ahead before sealing it.
    @Test func aRollCutsTheSpaceAllocatedAhead() throws {
        let dir = TemporaryDirectory("cask-allocate-roll")
        let store = try Self.openAllocating(dir, segmentSize: 16 << 10)
        let reader = try Self.openAllocating(dir, segmentSize: 16 << 10)
        #expect(try reader.count == 0)
        let value = [UInt8](repeating: 1, count: 3_000)
        for i in 0..<40 { try store.put(bytes("key-\(i)"), value) }
        let (lengths, manifest) = store.shards[0].state.withLock { ($0.segmentLengths, $0.manifest) }
        #expect(manifest.segments.count >= 4)
        for entry in manifest.segments.dropLast() {
            let size = Self.fileSize(Self.segmentFile(dir, entry.id))
            #expect(size == lengths[entry.id], "segment \(entry.id): \(size) bytes, \(lengths[entry.id] ?? -1) of records")
        }
        // The other handle followed the rolls and reads every value.
        #expect(try reader.count == 40)
        for i in 0..<40 where try reader.get(bytes("key-\(i)")) != value { Issue.record("key-\(i) wrong") }
        #expect(try reader.checkInvariants() == nil)
        try reader.close()
        try store.close()
        try Self.expectReopenedClean(dir, count: 40, segmentSize: 16 << 10)
    }

    /// A process that cuts the active segment (here `check --fix` cutting a torn tail) lowers the
    /// shared header's allocated position first: another handle, whose mapping still spans the
    /// old space, allocates again instead of storing past the end of the file (where its stores
    /// would be lost inside the file's last page, and a SIGBUS beyond it).
    @Test func aCutLowersTheAllocatedPositionForEveryHandle() throws {
        let dir = TemporaryDirectory("cask-allocate-cut")
        let a = try Self.openAllocating(dir)
        let b = try Self.openAllocating(dir)
        try a.put(bytes("x"), bytes("1"))
        let end = committedEnd(a)
        let allocated = LogPosition(packed: a.shards[0].shared.load(.allocated))
        #expect(allocated.segment == 1 && Int(allocated.offset) > end)
        // Bytes past the committed end that are not zeros: torn, for `check`.
        let handle = try #require(FileHandle(forWritingAtPath: Self.segmentFile(dir)))
        try handle.seek(toOffset: UInt64(end))
        handle.write(Data([1, 2, 3, 4, 5]))
        try handle.close()
        let found = try b.check(fix: true)
        #expect(found.allSatisfy { $0.isHealthy })
        #expect(Self.fileSize(Self.segmentFile(dir)) == end)
        #expect(LogPosition(packed: a.shards[0].shared.load(.allocated)).offset == UInt32(end))
        for i in 0..<50 { try a.put(bytes("after-\(i)"), bytes("value-\(i)")) }
        #expect(text(try b.get(bytes("after-49"))) == "value-49")
        try a.close()
        try b.close()
        try Self.expectReopenedClean(dir, count: 51)
    }
}
