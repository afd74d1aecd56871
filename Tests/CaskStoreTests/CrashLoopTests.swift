import CaskTestSupport
import Foundation
import Testing
@testable import CaskStore

/// kill -9 loop: several writer processes share one directory, writing, deleting and compacting
/// (so kills land mid-record, mid-roll, mid-compaction and mid-hint); the parent kills them at
/// random moments, reopens the store, and checks every acknowledged write. Repeated for
/// CASK_CRASH_ROUNDS rounds (3 processes killed per round).
@Suite("Crash loop")
struct CrashLoopTests {
    let worker = builtExecutable("cask-test-worker")

    @Test func killedWritersNeverLoseAcknowledgedWrites() throws {
        let rounds = knob("CASK_CRASH_ROUNDS", default: 34)
        let writers = 3
        let dir = TemporaryDirectory("cask-crash-loop")
        var rng = SeededRandom(seed: 2024)
        // What each key must hold: the value of its last acknowledged write (nil: deleted).
        var expected: [String: String?] = [:]
        var crashes = 0, checked = 0, lost = 0, inFlightApplied = 0, compactionsSeen = 0
        for round in 0..<rounds {
            var children: [(Process, Pipe, Pipe)] = []
            for w in 0..<writers {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: worker)
                p.arguments = ["crash-writer", dir.path, "w\(w)", String(round * writers + w + 1)]
                let out = Pipe(), err = Pipe()
                p.standardOutput = out
                p.standardError = err
                try p.run()
                children.append((p, out, err))
            }
            // Kill each at its own random moment (the first ones mostly during open, later ones mid-run).
            for (p, _, _) in children {
                usleep(UInt32.random(in: 2_000...70_000, using: &rng))
                kill(p.processIdentifier, SIGKILL)
            }
            var inFlight: [(key: String, value: String?)] = []
            for (p, out, err) in children {
                let log = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                p.waitUntilExit()
                if p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL { crashes += 1 } else {
                    let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                    Issue.record("round \(round): writer exited by itself (\(p.terminationStatus)): \(message)")
                }
                // Complete lines only; an intent followed by "ok" is acknowledged.
                var pending: (key: String, value: String?)?
                for line in log.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
                    if line == "ok" {
                        if let pending { expected[pending.key] = .some(pending.value) }
                        pending = nil
                    } else if line.hasPrefix("i p ") {
                        let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
                        pending = (parts[2], parts[3])
                    } else if line.hasPrefix("i d ") {
                        pending = (String(line.dropFirst(4)), nil)
                    }
                }
                if let pending { inFlight.append(pending) }
                compactionsSeen += log.split(separator: "\n").count / 150
            }
            let store = try Store(directory: dir.path, options: .testing())
            let report = store.recoveryReport
            #expect(report.corruptRanges.isEmpty, "round \(round): kill -9 left damage in the middle: \(report.corruptRanges)")
            #expect(try store.checkInvariants() == nil, "round \(round)")
            for f in inFlight {
                // The write in flight at the kill may or may not have happened; whichever it is stays.
                let got = text(try store.get(bytes(f.key)))
                if got == f.value {
                    if expected[f.key] != .some(f.value) { inFlightApplied += 1 }
                    expected[f.key] = .some(f.value)
                }
            }
            for (k, v) in expected {
                checked += 1
                let got = text(try store.get(bytes(k)))
                if got != v {
                    lost += 1
                    Issue.record("round \(round): \(k) is \(got ?? "absent"), acknowledged \(v ?? "deleted")")
                }
            }
            try store.close()
        }
        print("crash loop: \(crashes) processes killed, \(checked) acknowledged values checked (\(expected.count) keys), \(lost) lost, \(inFlightApplied) in-flight writes found applied, ~\(compactionsSeen) compactions run")
        #expect(crashes == rounds * writers)
        #expect(lost == 0)
        #expect(expected.count > 100, "the writers got little done: the test proves little")
    }
}
