import CaskTestSupport
import Foundation
import Testing
@testable import CaskStore

/// ENOSPC, EIO, EINTR and short transfers on pwrite, fsync and rename: an operation either fails
/// with a clear `io` error carrying the errno, or retries transparently; nothing stored before is
/// lost, and the store works again once the fault stops.
extension FaultInjectionTests {
    static let seeded = (0..<20).map { ("seed-\($0)", "value-\($0)") }

    /// A store with 20 keys, opened under `faults` (which only acts on its directory).
    static func seededStore(_ dir: TemporaryDirectory, durability: Durability = .none, segmentSize: Int = 1 << 20) throws -> Store {
        var options = StoreOptions.testing(shards: 2, segmentSize: segmentSize)
        options.durability = durability
        let store = try Store(directory: dir.path, options: options)
        for (k, v) in seeded { try store.put(bytes(k), bytes(v)) }
        return store
    }

    /// Makes `faults` refuse `fallocate` on segment files, as a file system without it does: records
    /// are then written by `pwrite` (as large values always are), the path the write faults reach.
    static func withoutFallocate(_ faults: ScriptedFaults) {
        faults.add(.init(calls: [.fallocate], pathContains: ".log", times: .max, fault: .fail(EOPNOTSUPP)))
    }

    static func expectSeeded(_ store: Store, _ label: String) throws {
        for (k, v) in seeded where text(try store.get(bytes(k))) != v { Issue.record("\(label): \(k) lost") }
    }

    /// Reopens and checks the seeded keys plus `extra`, and that recovery found a clean log
    /// (a failed append cut its partial record itself).
    static func expectReopened(_ dir: TemporaryDirectory, extra: [String: String?], _ label: String) throws {
        let store = try Store(directory: dir.path, options: .testing(shards: 2))
        #expect(store.recoveryReport.isClean, "\(label): \(store.recoveryReport)")
        try expectSeeded(store, label)
        for (k, v) in extra { #expect(text(try store.get(bytes(k))) == v, "\(label): \(k)") }
        #expect(try store.checkInvariants() == nil)
        try store.close()
    }

    /// (Appends into allocated space store through the mapping and fail only at allocation:
    /// `fullDiskWhileAllocatingFailsTheAppendBeforeWritingIt`.)
    @Test(arguments: [ENOSPC, EIO])
    func failedAppendThrowsAndLosesNothing(errno code: Int32) throws {
        let dir = TemporaryDirectory("cask-fault-append")
        let faults = ScriptedFaults(root: dir.path)
        try withFaults(faults) {
            Self.withoutFallocate(faults)
            let store = try Self.seededStore(dir)
            let injectedBefore = faults.injected
            // A short write first, so part of the record reaches the file before the failure.
            faults.add(.init(calls: [.pwrite], pathContains: ".log", fault: .shortWrite(17)))
            faults.add(.init(calls: [.pwrite], pathContains: ".log", fault: .fail(code)))
            let error = #expect(throws: CaskError.self) { try store.put(bytes("doomed"), bytes("never stored")) }
            #expect(error?.code == .io)
            #expect(error?.errno == code)
            #expect(error?.isDiskFull == (code == ENOSPC))
            #expect(error?.description.contains(String(cString: strerror(code))) == true, "\(String(describing: error))")
            #expect(faults.injected - injectedBefore == 2)
            // Reads keep working; the failed key is absent; writes work again once space returns.
            try Self.expectSeeded(store, "after the failure")
            #expect(try store.get(bytes("doomed")) == nil)
            try store.put(bytes("later"), bytes("fine"))
            try store.close()
        }
        try Self.expectReopened(dir, extra: ["doomed": nil, "later": "fine"], "reopened after errno \(code)")
    }

    /// A large value is written by a second `pwrite` after the rest of its record: when that one
    /// fails, the part already written is cut and nothing is published.
    @Test func failedWriteOfALargeValueLosesNothing() throws {
        let dir = TemporaryDirectory("cask-fault-large")
        let faults = ScriptedFaults(root: dir.path)
        let big = [UInt8](repeating: 0x5A, count: 100_000)
        try withFaults(faults) {
            let store = try Self.seededStore(dir)
            faults.add(.init(calls: [.pwrite], pathContains: ".log", skip: 1, fault: .fail(ENOSPC)))
            let error = #expect(throws: CaskError.self) { try store.put(bytes("doomed"), big) }
            #expect(error?.isDiskFull == true)
            #expect(faults.injected == 1)
            try Self.expectSeeded(store, "after the failed value write")
            #expect(try store.get(bytes("doomed")) == nil)
            try store.put(bytes("later"), big)
            #expect(try store.get(bytes("later")) == big)
            try store.close()
        }
        let reopened = try Store(directory: dir.path, options: .testing(shards: 2))
        #expect(reopened.recoveryReport.isClean, "\(reopened.recoveryReport)")
        try Self.expectSeeded(reopened, "reopened")
        #expect(try reopened.get(bytes("doomed")) == nil)
        #expect(try reopened.get(bytes("later")) == big)
        try reopened.close()
    }

    @Test func interruptedAndShortWritesAreRetried() throws {
        let dir = TemporaryDirectory("cask-fault-retry")
        let faults = ScriptedFaults(root: dir.path)
        try withFaults(faults) {
            Self.withoutFallocate(faults)
            let store = try Self.seededStore(dir)
            let injectedBefore = faults.injected
            faults.add(.init(calls: [.pwrite], pathContains: ".log", times: 3, fault: .fail(EINTR)))
            faults.add(.init(calls: [.pwrite], pathContains: ".log", times: 6, fault: .shortWrite(5)))
            let before = faults.calls(.pwrite)
            try store.put(bytes("patient"), bytes(String(repeating: "p", count: 100)))
            #expect(faults.injected - injectedBefore == 9)
            #expect(faults.calls(.pwrite) - before >= 10, "3 interrupted + 6 short + the rest")
            #expect(text(try store.get(bytes("patient"))) == String(repeating: "p", count: 100))
            try store.close()
        }
        try Self.expectReopened(dir, extra: ["patient": String(repeating: "p", count: 100)], "reopened after retries")
    }

    /// A failed fsync is returned to the caller, never swallowed, and never counted as durable:
    /// the next sync fsyncs again.
    @Test(arguments: [EIO, ENOSPC, EINTR])
    func failedFsyncIsReportedAndNotTrusted(errno code: Int32) throws {
        let dir = TemporaryDirectory("cask-fault-fsync")
        let faults = ScriptedFaults(root: dir.path)
        try withFaults(faults) {
            let store = try Self.seededStore(dir, durability: .always)
            faults.add(.init(calls: [.fsync], pathContains: ".log", fault: .fail(code)))
            let error = #expect(throws: CaskError.self) { try store.put(bytes("unsure"), bytes("maybe")) }
            #expect(error?.code == .io && error?.errno == code)
            #expect(error?.message.contains("fsync") == true)
            let syncs = faults.calls(.fsync)
            try store.sync()
            #expect(faults.calls(.fsync) > syncs, "the write was treated as durable after a failed fsync")
            try store.put(bytes("after"), bytes("ok"))
            try Self.expectSeeded(store, "after the failed fsync")
            try store.close()
        }
        try Self.expectReopened(dir, extra: ["after": "ok"], "reopened after fsync errno \(code)")
        // Explicit sync in `none` mode reports the failure too.
        let dir2 = TemporaryDirectory("cask-fault-fsync-none")
        let faults2 = ScriptedFaults(root: dir2.path)
        try withFaults(faults2) {
            let store = try Self.seededStore(dir2)
            faults2.add(.init(calls: [.fsync], pathContains: ".log", fault: .fail(code)))
            #expect(throws: CaskError.self) { try store.sync() }
            try store.sync()
            try store.close()
        }
    }

    /// A roll whose manifest replacement fails (write, fsync or rename of the new MANIFEST): the put
    /// that needed it fails, the store keeps working and later rolls succeed.
    @Test func failedRollThrowsAndTheStoreRecovers() throws {
        let cases: [(SyscallKind, InjectedFault)] = [(.rename, .fail(EIO)), (.rename, .fail(ENOSPC)), (.pwrite, .fail(ENOSPC)),
                                                     (.fsync, .fail(EIO)), (.pwrite, .shortWrite(3))]
        var injected = 0
        for (call, fault) in cases {
            let dir = TemporaryDirectory("cask-fault-roll")
            let faults = ScriptedFaults(root: dir.path)
            var written: [String: String?] = [:]
            try withFaults(faults) {
                let store = try Self.seededStore(dir, segmentSize: 4096)
                faults.add(.init(calls: [call], pathContains: "MANIFEST", fault: fault))
                var failures = 0
                for i in 0..<150 {
                    let k = "roll-\(i)", v = String(repeating: "r", count: 60)
                    do {
                        try store.put(bytes(k), bytes(v))
                        written[k] = v
                    } catch let error as CaskError {
                        failures += 1
                        #expect(error.code == .io, "\(error)")
                        written[k] = .some(nil)
                    }
                }
                injected += faults.injected
                if case .shortWrite = fault { #expect(failures == 0, "a short manifest write must be completed, not fail") } else {
                    #expect(failures == 1, "\(call) \(fault)")
                }
                try Self.expectSeeded(store, "after the failed roll")
                try store.close()
            }
            try Self.expectReopened(dir, extra: written, "reopened after \(call) \(fault) in a roll")
        }
        print("injected errors (roll): \(injected) faults over \(cases.count) cases")
        #expect(injected == cases.count)
    }
}
