import Cask
import CaskTestSupport
import Foundation
import Testing
@testable import CaskStore

/// kill -9 loop through the typed cache: a writer process sets value-file values (33 KiB) and
/// small ones, deletes, runs 3-key transactions and clears now and then; the parent kills it at a
/// random moment, reopens, and checks every acknowledged write — value files included — and that
/// `check` finds no entry without its file. Durability alternates between none, interval and
/// always. CASK_CACHE_CRASH_ROUNDS rounds (one kill each).
@Suite("Cache crash loop")
struct CacheCrashLoopTests {
    let worker = builtExecutable("cask-test-worker")

    /// The worker's value for (key, n): see `cask-test-worker cache-crash-writer`.
    static func value(_ key: String, _ n: Int, big: Bool) -> String {
        let unit = "\(key)=\(n);"
        return big ? String(repeating: unit, count: 33 * 1024 / unit.utf8.count + 1) : unit
    }

    /// One operation as logged: what each key it touched holds after it (nil: absent). A clear
    /// names no key: it empties the cache.
    enum Operation {
        case writes([String: String?])
        case clear
    }

    static func parse(_ line: Substring) -> Operation? {
        let parts = line.split(separator: " ").map(String.init)
        guard parts.count >= 2, parts[0] == "i" else { return nil }
        switch parts[1] {
        case "c": return .clear
        case "d": return .writes([parts[2]: String?.none])
        case "p": return .writes([parts[2]: value(parts[2], Int(parts[3])!, big: parts[4] == "big")])
        case "t":
            let n = Int(parts[3])!
            return .writes([parts[2]: value(parts[2], n, big: true), parts[4]: value(parts[4], n, big: false),
                            String(parts[6].dropFirst()): String?.none])
        default: return nil
        }
    }

    @Test func killedCacheWritersLoseNothing() throws {
        let rounds = knob("CASK_CACHE_CRASH_ROUNDS", default: 40)
        let dir = TemporaryDirectory("cask-cache-crash")
        var rng = SeededRandom(seed: 77)
        var expected: [String: String] = [:]
        var kills = 0, checked = 0, lost = 0, acknowledged = 0, clears = 0, bigChecked = 0
        for round in 0..<rounds {
            let mode = ["none", "interval", "always"][round % 3]
            let p = Process()
            p.executableURL = URL(fileURLWithPath: worker)
            p.arguments = ["cache-crash-writer", dir.path, String(round + 1), mode]
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            usleep(UInt32.random(in: 20_000...150_000, using: &rng))
            kill(p.processIdentifier, SIGKILL)
            let log = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            if p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL { kills += 1 } else {
                let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                Issue.record("round \(round): the writer exited by itself (\(p.terminationStatus)): \(message)")
            }
            var pending: Operation?
            for line in log.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
                if line == "ok" {
                    acknowledged += 1
                    switch pending {
                    case .clear?: expected = [:]; clears += 1
                    case .writes(let w)?: for (k, v) in w { expected[k] = v }
                    case nil: break
                    }
                    pending = nil
                } else {
                    pending = Self.parse(line)
                }
            }
            let cache = try Cache(directory: dir.path)
            // The operation in flight at the kill may have happened in part: each key it touched
            // holds its old or its new value (a clear: its old value or nothing).
            var allowed: [String: Set<String?>] = [:]
            switch pending {
            case .clear?: for (k, v) in expected { allowed[k] = [v, nil] }
            case .writes(let w)?: for (k, v) in w { allowed[k] = [expected[k], v] }
            case nil: break
            }
            var keys = Set(expected.keys)
            keys.formUnion(allowed.keys)
            for k in keys {
                checked += 1
                let got: String?
                do {
                    got = try cache.get(k, as: String.self)
                } catch {
                    lost += 1
                    Issue.record("round \(round) (\(mode)): \(k) is unreadable: \(error)")
                    continue
                }
                if (got?.utf8.count ?? 0) > 32 * 1024 { bigChecked += 1 }
                let ok = allowed[k].map { $0.contains(got) } ?? (got == expected[k])
                if ok {
                    expected[k] = got
                } else {
                    lost += 1
                    Issue.record("round \(round) (\(mode)): \(k) holds \(got.map { String($0.prefix(24)) } ?? "nothing"), acknowledged \(expected[k].map { String($0.prefix(24)) } ?? "nothing")")
                }
            }
            let report = try cache.check()
            #expect(report.missingValueFiles.isEmpty && report.sizeMismatches.isEmpty, "round \(round): \(report)")
            try cache.close()
        }
        print("cache crash loop: \(kills) writers killed, \(acknowledged) operations acknowledged (\(clears) clears), \(checked) values checked (\(bigChecked) in value files), \(lost) lost")
        #expect(kills == rounds)
        #expect(lost == 0)
        #expect(bigChecked > rounds, "too few value-file values checked: the test proves little")
    }
}
