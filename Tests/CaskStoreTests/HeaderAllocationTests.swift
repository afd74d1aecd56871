import CaskTestSupport
import Foundation
import Testing
@testable import CaskStore

/// The shared header page of `shard-NNN/lock` gets real disk blocks before it is mapped: on a full
/// disk, opening is a clear disk-full error (never a SIGBUS on the first store into a sparse page),
/// and a store whose creation stopped there opens once space returns.
extension FaultInjectionTests {
    static func lockFile(_ dir: TemporaryDirectory) -> (size: Int, blocks: Int)? {
        var st = stat()
        guard stat(dir.sub("shard-000/lock"), &st) == 0 else { return nil }
        return (Int(st.st_size), Int(st.st_blocks))
    }

    @Test func fullDiskWhileAllocatingTheHeaderIsAnErrorAndNothingIsMapped() throws {
        let dir = TemporaryDirectory("cask-fault-header")
        let faults = ScriptedFaults(root: dir.path)
        withFaults(faults) {
            faults.add(.init(calls: [.fallocate], pathContains: "shard-000/lock", fault: .fail(ENOSPC)))
            let error = #expect(throws: CaskError.self) { try Store(directory: dir.path, options: .testing(shards: 1)) }
            #expect(error?.isDiskFull == true, "\(String(describing: error))")
            #expect(error?.path?.hasSuffix("shard-000/lock") == true)
            #expect(faults.injected == 1, "the header page was never allocated")
            #expect(faults.calls(.mmap) == 0, "a header page without disk blocks was mapped")
            #expect(Self.lockFile(dir)?.size == 0, "the lock file was extended without blocks")
        }
        // Space is back: the half-created store opens and works.
        let store = try Store(directory: dir.path, options: .testing(shards: 1))
        try store.put(bytes("k"), bytes("v"))
        #expect(text(try store.get(bytes("k"))) == "v")
        try store.close()
        let file = try #require(Self.lockFile(dir))
        #expect(file.size == SharedHeader.fileSize && file.blocks > 0)
    }

    /// A header left sparse (extended but never allocated, as earlier versions did) gets its blocks.
    @Test func aSparseHeaderGetsItsBlocksAtOpen() throws {
        let dir = TemporaryDirectory("cask-fault-sparse")
        try Store(directory: dir.path, options: .testing(shards: 1)).close()
        let lock = dir.sub("shard-000/lock")
        #expect(truncate(lock, 0) == 0 && truncate(lock, off_t(SharedHeader.fileSize)) == 0)
        #expect(Self.lockFile(dir)?.blocks == 0, "this file system did not make a sparse file")
        let faults = ScriptedFaults(root: dir.path)
        withFaults(faults) {
            faults.add(.init(calls: [.fallocate], pathContains: "shard-000/lock", fault: .fail(ENOSPC)))
            let error = #expect(throws: CaskError.self) { try Store(directory: dir.path, options: .testing(shards: 1)) }
            #expect(error?.isDiskFull == true)
            #expect(faults.calls(.mmap) == 0)
        }
        try Store(directory: dir.path, options: .testing(shards: 1)).close()
        #expect((Self.lockFile(dir)?.blocks ?? 0) > 0)
    }

    /// Without fallocate support the page is written with zeros instead; a full disk then fails
    /// that write with the same clear error.
    @Test func withoutFallocateTheHeaderIsWrittenWithZeros() throws {
        let dir = TemporaryDirectory("cask-fault-nofallocate")
        let faults = ScriptedFaults(root: dir.path)
        try withFaults(faults) {
            faults.add(.init(calls: [.fallocate], pathContains: "shard-000/lock", times: 2, fault: .fail(EOPNOTSUPP)))
            faults.add(.init(calls: [.pwrite], pathContains: "shard-000/lock", fault: .fail(ENOSPC)))
            let error = #expect(throws: CaskError.self) { try Store(directory: dir.path, options: .testing(shards: 1)) }
            #expect(error?.isDiskFull == true, "\(String(describing: error))")
            #expect(faults.calls(.mmap) == 0)
            let store = try Store(directory: dir.path, options: .testing(shards: 1))
            #expect(faults.injected == 3)
            try store.put(bytes("k"), bytes("v"))
            try store.close()
        }
        let file = try #require(Self.lockFile(dir))
        #expect(file.size == SharedHeader.fileSize && file.blocks > 0)
    }
}
