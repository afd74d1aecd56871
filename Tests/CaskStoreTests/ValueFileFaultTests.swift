import CaskTestSupport
import Foundation
import Testing
import Cask
@testable import CaskStore

/// Defect 3 of the seam: a multi-record write (set(many:), transact) that fails part way — ENOSPC
/// on one shard's log, or a failed fsync after the commit — leaves every committed entry with its
/// value file.
extension FaultInjectionTests {
    static let bigItems = (0..<16).map { ("big-\($0)", [UInt8](repeating: UInt8($0), count: 40_000)) }

    /// Every key the cache still has reads back whole; returns how many it has.
    static func expectReadable(_ cache: Cache, _ label: String) throws -> Int {
        var present = 0
        for (k, v) in bigItems {
            do {
                guard let got = try cache.get(k) else { continue }
                present += 1
                #expect(got == v, "\(label): \(k) has the wrong value")
            } catch {
                Issue.record("\(label): \(k) is listed but unreadable: \(error)")
            }
        }
        return present
    }

    @Test(arguments: ["set(many:)", "transact"])
    func partlyFailedMultiWriteKeepsCommittedValues(_ path: String) throws {
        let dir = TemporaryDirectory("cask-fault-many")
        let faults = ScriptedFaults(root: dir.path)
        try withFaults(faults) {
            let cache = try Cache(directory: dir.path, settings: CacheSettings(shards: 2))
            // The log's space (allocation) and its writes: a full disk wherever shard 1 asks.
            faults.add(.init(calls: [.pwrite, .fallocate], pathContains: "shard-001/", times: 1000, fault: .fail(ENOSPC)))
            let error = #expect(throws: CaskError.self) {
                if path == "transact" {
                    try cache.transact { tx in for (k, v) in Self.bigItems { try tx.set(k, v) } }
                } else {
                    try cache.set(many: Self.bigItems)
                }
            }
            #expect(error?.isDiskFull == true, "\(String(describing: error))")
            faults.removeAll()
            let present = try Self.expectReadable(cache, path)
            if path == "set(many:)" { #expect(present > 0, "shard 0's writes were committed") }
            try cache.close()
        }
        let reopened = try Cache(directory: dir.path)
        _ = try Self.expectReadable(reopened, "\(path), reopened")
        #expect(try reopened.check().isHealthy)
    }

    @Test func failedFsyncAfterCommitKeepsTheValues() throws {
        let dir = TemporaryDirectory("cask-fault-commit-sync")
        let faults = ScriptedFaults(root: dir.path)
        try withFaults(faults) {
            let cache = try Cache(directory: dir.path, settings: CacheSettings(shards: 2, durability: .always))
            faults.add(.init(calls: [.fsync], pathContains: ".log", times: 4, fault: .fail(EIO)))
            #expect(throws: CaskError.self) { try cache.set(many: Self.bigItems) }
            faults.removeAll()
            // Shard 0's records were written before its fsync failed; each must have its file.
            #expect(try Self.expectReadable(cache, "after the failed fsync") > 0)
            try cache.close()
        }
    }
}
