import Cask
import CaskTestSupport
import Foundation
import Testing
@testable import CaskStore

/// Power loss with value files: the typed cache stores values of 1 KiB or more in files (the
/// threshold is lowered so every other value is one), replaces and deletes them, and after every
/// recorded effect, under every survival of unsynced data, the reopened cache reads every key
/// without error — a record never names a file the power cut took — and holds what the mode
/// promises.
extension FaultInjectionTests {
    enum FileStep {
        case put(String, String)
        case delete(String)
        case sync

        var key: String? {
            switch self {
            case .put(let k, _), .delete(let k): k
            case .sync: nil
            }
        }
    }

    static func fileSteps(count: Int, seed: UInt64, syncEvery: Int) -> [FileStep] {
        var rng = SeededRandom(seed: seed)
        return (0..<count).map { i in
            if syncEvery > 0 && i % syncEvery == syncEvery - 1 { return .sync }
            let k = "k\(rng.next() % 6)"
            if rng.next() % 5 == 0 { return .delete(k) }
            // Every other value is large enough for a value file.
            return .put(k, "v\(i)-" + String(repeating: "x", count: i % 2 == 0 ? 1100 : Int(rng.next() % 40)))
        }
    }

    static func fileStates(_ steps: [FileStep]) -> [[String: String]] {
        var model: [String: String] = [:]
        var states = [model]
        for step in steps {
            switch step {
            case .put(let k, let v): model[k] = v
            case .delete(let k): model[k] = nil
            case .sync: break
            }
            states.append(model)
        }
        return states
    }

    /// Runs `steps` on a cache recorded by a power-loss recorder; returns the recorded events.
    static func recordFileSteps(_ steps: [FileStep], dir: TemporaryDirectory, settings: CacheSettings) throws -> [PowerLossRecorder.Event] {
        let recorder = PowerLossRecorder(root: dir.path)
        try withFaults(recorder) {
            let cache = try Cache(directory: dir.path, settings: settings)
            for (i, step) in steps.enumerated() {
                recorder.mark("begin \(i)")
                switch step {
                case .put(let k, let v): try cache.set(k, v)
                case .delete(let k): try cache.delete(k)
                case .sync: try cache.store.sync()
                }
                recorder.mark("end \(i)")
            }
            // No close: closing syncs, and the point is what the unsynced tail becomes.
        }
        return recorder.events
    }

    /// The content of the cache a crash state reopens to; records an issue for a read error.
    static func reopenedContent(_ path: String, _ label: String) -> [String: String]? {
        do {
            let cache = try Cache(directory: path, persistSettings: false)
            var found: [String: String] = [:]
            for i in 0..<6 {
                do {
                    if let v = try cache.get("k\(i)", as: String.self) { found["k\(i)"] = v }
                } catch {
                    Issue.record("\(label): k\(i) is unreadable: \(error)")
                }
            }
            let report = try cache.check()
            #expect(report.missingValueFiles.isEmpty && report.sizeMismatches.isEmpty, "\(label): \(report)")
            return found
        } catch {
            Issue.record("\(label): cannot open: \(error)")
            return nil
        }
    }

    @Test func valueFilesSurvivePowerLossWithAlways() throws {
        let steps = Self.fileSteps(count: knob("CASK_POWERLOSS_OPS", default: 24), seed: 51, syncEvery: 0)
        let dir = TemporaryDirectory("cask-powerloss-files")
        let events = try Self.recordFileSteps(steps, dir: dir, settings: CacheSettings(shards: 2, minFileSize: 1024, durability: .always))
        let states = Self.fileStates(steps)
        var crashStates = 0, filesChecked = 0
        for n in 1...events.count {
            if case .mark = events[n - 1] { continue }
            let (begun, ended) = Self.progress(events[..<n])
            let inFlight = begun > ended ? steps[ended].key : nil
            let state = PowerLossState(root: dir.path, events: events[..<n])
            for (v, survival) in [UnsyncedSurvival.none, .all, .random(seed: UInt64(n))].enumerated() {
                let scratch = TemporaryDirectory("cask-powerloss-files-state")
                try state.materialize(into: scratch.path, keeping: survival)
                let label = "after event \(n) of \(events.count) (step \(ended), survival \(v))"
                guard let found = Self.reopenedContent(scratch.path, label) else { continue }
                crashStates += 1
                for i in 0..<6 {
                    let k = "k\(i)"
                    if found[k] == states[ended][k] { if (found[k]?.utf8.count ?? 0) > 1024 { filesChecked += 1 }; continue }
                    if k == inFlight, found[k] == states[ended + 1][k] { continue }
                    Issue.record("\(label): \(k) holds \(found[k].map { String($0.prefix(12)) } ?? "nothing"), acknowledged \(states[ended][k].map { String($0.prefix(12)) } ?? "nothing")")
                }
            }
        }
        print("power loss (always, value files): \(steps.count) operations, \(events.count) recorded effects, \(crashStates) crash states reopened, \(filesChecked) value-file values checked")
        #expect(filesChecked > steps.count)
    }

    @Test func valueFilesLoseOnlyASuffixWithInterval() throws {
        let steps = Self.fileSteps(count: knob("CASK_POWERLOSS_OPS", default: 24), seed: 53, syncEvery: 7)
        let dir = TemporaryDirectory("cask-powerloss-files-interval")
        let events = try Self.recordFileSteps(steps, dir: dir, settings: CacheSettings(shards: 1, minFileSize: 1024, durability: .interval(.seconds(3600))))
        let states = Self.fileStates(steps)
        var crashStates = 0, lostSuffixes = 0
        for n in 1...events.count {
            if case .mark = events[n - 1] { continue }
            let (begun, ended) = Self.progress(events[..<n])
            let durable = steps.prefix(ended).lastIndex(where: { if case .sync = $0 { true } else { false } }).map { $0 + 1 } ?? 0
            let state = PowerLossState(root: dir.path, events: events[..<n])
            for (v, survival) in [UnsyncedSurvival.none, .all, .random(seed: UInt64(n))].enumerated() {
                let scratch = TemporaryDirectory("cask-powerloss-files-state")
                try state.materialize(into: scratch.path, keeping: survival)
                let label = "after event \(n) (survival \(v))"
                guard let found = Self.reopenedContent(scratch.path, label) else { continue }
                crashStates += 1
                let candidates = durable...max(durable, begun)
                if let j = candidates.first(where: { states[$0] == found }) {
                    if j < ended { lostSuffixes += 1 }
                } else {
                    Issue.record("\(label): content matches no step in \(candidates)")
                }
            }
        }
        print("power loss (interval, value files): \(steps.count) operations, \(events.count) recorded effects, \(crashStates) crash states reopened, \(lostSuffixes) lost an unsynced suffix")
        #expect(lostSuffixes > 0)
    }
}
