import CaskTestSupport
import Foundation
import Testing
@testable import CaskStore

/// Crashes at every step of a compaction: power loss after each of its file effects (outputs
/// written, fsynced, hints, manifest renamed, directory fsynced, old files deleted), and a failed
/// system call at each step followed by more work and a crash.
extension FaultInjectionTests {
    static let compactionKeys = (0..<40).map { "k\($0)" }

    /// Three rounds over 40 keys with deletes: several sealed segments in which tombstones shadow
    /// older puts, so a compaction that lost a tombstone too early would resurrect a key.
    static func buildCompactionFixture(_ store: Store) throws -> [String: String] {
        var model: [String: String] = [:]
        for round in 0..<3 {
            for (i, k) in compactionKeys.enumerated() {
                if (i + round) % 4 == 0 {
                    try store.delete(bytes(k))
                    model[k] = nil
                } else {
                    let v = "r\(round)-\(i)-" + String(repeating: "y", count: 40)
                    try store.put(bytes(k), bytes(v))
                    model[k] = v
                }
            }
        }
        return model
    }

    static var compactionOptions: StoreOptions {
        var o = StoreOptions.testing(shards: 1, segmentSize: 4096)
        o.durability = .always
        return o
    }

    /// Opens a crash state and checks it holds exactly `model` (deleted keys absent), that recovery
    /// found no damage, that another compaction works and leaves no orphan file behind.
    static func verifyCompactionState(_ directory: String, _ model: [String: String], inFlight: (key: String, value: String?)? = nil,
                                      _ label: String) {
        do {
            let store = try Store(directory: directory, options: compactionOptions)
            let report = store.recoveryReport
            #expect(report.corruptRanges.isEmpty && report.rejectedHints == 0, "\(label): \(report)")
            func check(_ when: String) throws {
                for k in compactionKeys + ["after"] {
                    let got = text(try store.get(bytes(k)))
                    if got == model[k] || (inFlight?.key == k && got == inFlight?.value) { continue }
                    Issue.record("\(label), \(when): \(k) is \(got ?? "absent"), expected \(model[k] ?? "absent")")
                }
                if let p = try store.checkInvariants() { Issue.record("\(label), \(when): \(p)") }
            }
            try check("reopened")
            try store.compact()
            try check("compacted again")
            let manifest = try store.shards[0].readManifest()
            let expected = Set(manifest.segments.flatMap { [Segment.fileName($0.id)] + ($0.hasHint ? [Segment.hintName($0.id)] : []) })
            let present = Set(try FileManager.default.contentsOfDirectory(atPath: directory + "/shard-000")
                .filter { $0.hasSuffix(".log") || $0.hasSuffix(".hint") })
            #expect(present == expected, "\(label): orphan or missing files")
            try store.close()
        } catch {
            Issue.record("\(label): \(error)")
        }
    }

    /// What the last effect before a crash point was, to name the compaction step.
    static func stepName(_ e: PowerLossRecorder.Event) -> String {
        switch e {
        case .create(let p, _): "created \(p.split(separator: "/").last!)"
        case .write: "wrote"
        case .truncate: "truncated"
        case .allocate: "allocated space"
        case .syncFile: "fsynced a file"
        case .syncDirectory: "fsynced the directory"
        case .rename: "renamed the manifest"
        case .unlink: "deleted an old file"
        case .makeDirectory: "made a directory"
        case .mark(let m): m
        }
    }

    @Test func compactionSurvivesPowerLossAtEveryStep() throws {
        let dir = TemporaryDirectory("cask-compaction-crash")
        let recorder = PowerLossRecorder(root: dir.path)
        var model: [String: String] = [:]
        try withFaults(recorder) {
            let store = try Store(directory: dir.path, options: Self.compactionOptions)
            model = try Self.buildCompactionFixture(store)
            recorder.mark("compaction")
            let results = try store.compact()
            #expect(results.first?.recordsCopied == model.count)
            recorder.mark("compacted")
            try store.close()
        }
        let events = recorder.events
        guard case let start? = events.firstIndex(where: { if case .mark("compaction") = $0 { true } else { false } }) else {
            Issue.record("no compaction recorded")
            return
        }
        var steps: [String: Int] = [:]
        var crashStates = 0
        for n in (start + 1)...events.count {
            if case .mark = events[n - 1] { continue }
            steps[Self.stepName(events[n - 1]), default: 0] += 1
            let state = PowerLossState(root: dir.path, events: events[..<n])
            for (v, survival) in [UnsyncedSurvival.none, .all, .random(seed: UInt64(n)), .random(seed: UInt64(n) + 7777)].enumerated() {
                let scratch = TemporaryDirectory("cask-compaction-state")
                try state.materialize(into: scratch.path, keeping: survival)
                Self.verifyCompactionState(scratch.path, model, "crash after event \(n) (\(Self.stepName(events[n - 1])), survival \(v))")
                crashStates += 1
            }
        }
        print("compaction power loss: \(crashStates) crash states over \(events.count - start - 1) compaction effects: \(steps.sorted { $0.key < $1.key })")
        #expect(steps["renamed the manifest"] ?? 0 >= 1)
        #expect(steps["deleted an old file"] ?? 0 >= 1)
        #expect(steps["fsynced the directory"] ?? 0 >= 1)
    }

    /// The k-th mutating system call of a compaction fails (EIO), for every k: the compaction throws
    /// a clear error (or, for the deletion of old files, shrugs it off), the store stays whole and
    /// usable in the same process, a second compaction works, and a crash at any point after the
    /// fault (fsynced data only, or everything) reopens whole.
    @Test func failedCompactionStepLeavesAWholeStore() throws {
        let calls: Set<SyscallKind> = [.open, .pwrite, .fsync, .ftruncate, .rename, .unlink]
        var k = 0, thrown = 0, crashStates = 0
        while k < 300 {
            k += 1
            let dir = TemporaryDirectory("cask-compaction-fault")
            let faults = ScriptedFaults(root: dir.path)
            let recorder = PowerLossRecorder(root: dir.path, faults: faults)
            var model: [String: String] = [:]
            var injected = 0
            try withFaults(recorder) {
                let store = try Store(directory: dir.path, options: Self.compactionOptions)
                model = try Self.buildCompactionFixture(store)
                recorder.mark("compaction")
                faults.add(.init(calls: calls, skip: k - 1, fault: .fail(EIO)))
                do {
                    try store.compact()
                } catch let error as CaskError {
                    thrown += 1
                    #expect(error.code == .io && error.errno == EIO, "step \(k): \(error)")
                }
                injected = faults.injected
                faults.removeAll()
                for key in Self.compactionKeys where text(try store.get(bytes(key))) != model[key] {
                    Issue.record("step \(k): \(key) wrong in the same process after the failed compaction")
                }
                try store.put(bytes("after"), bytes("v\(k)"))
                recorder.mark("after")
                model["after"] = "v\(k)"
                try store.compact()
                for key in Self.compactionKeys + ["after"] where text(try store.get(bytes(key))) != model[key] {
                    Issue.record("step \(k): \(key) wrong after compacting again")
                }
                try store.close()
            }
            if injected == 0 { break }  // the compaction makes fewer than k calls: every step was covered
            let events = recorder.events
            let start = events.firstIndex(where: { if case .mark("compaction") = $0 { true } else { false } })!
            let acked = events.firstIndex(where: { if case .mark("after") = $0 { true } else { false } })!
            for n in (start + 1)...events.count {
                if case .mark = events[n - 1] { continue }
                let state = PowerLossState(root: dir.path, events: events[..<n])
                var expected = model
                if n <= acked { expected["after"] = nil }
                for (v, survival) in [UnsyncedSurvival.none, .all].enumerated() {
                    let scratch = TemporaryDirectory("cask-compaction-state")
                    try state.materialize(into: scratch.path, keeping: survival)
                    Self.verifyCompactionState(scratch.path, expected, inFlight: n <= acked ? ("after", "v\(k)") : nil,
                                               "fault at step \(k), crash after event \(n), survival \(v)")
                    crashStates += 1
                }
            }
        }
        print("compaction faults: failed each of \(k - 1) steps (\(thrown) compactions threw), \(crashStates) crash states after a fault reopened")
        #expect(k > 10 && k < 300)
    }
}
