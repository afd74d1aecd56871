import CaskTestSupport
import Foundation
import Testing
@testable import Cask

/// Recipes used by several real child processes (`cask-recipe-worker`) on one directory.
@Suite("Recipes across processes")
struct RecipeProcessTests {
    func run(_ children: [[String]]) throws -> [[String]] {
        let started = try children.map { try Child.spawn($0) }
        return started.map { child in
            let (status, lines) = child.finish()
            #expect(status == 0, "\(lines.suffix(3))")
            return lines
        }
    }

    /// Children increment a counter with a non-atomic read-modify-write under the lock: exact total.
    @Test(arguments: ["lock-incr", "rlock-incr", "barrier-incr"])
    func mutualExclusionKeepsTheCounterExact(command: String) throws {
        let dir = TempDir()
        _ = try Cache(directory: dir.path)
        _ = try run((0..<3).map { _ in [command, dir.path, "60"] })
        let cache = try Cache(directory: dir.path)
        #expect(try cache.get("counter", as: Int.self) == 180)
    }

    @Test func semaphoreAdmitsAtMostItsLimit() throws {
        let dir = TempDir()
        _ = try Cache(directory: dir.path)
        let out = try run((0..<4).map { _ in ["sem", dir.path, "2", "25"] })
        let inside = out.flatMap { $0 }.compactMap { $0.hasPrefix("inside ") ? Int($0.dropFirst(7)) : nil }
        #expect(inside.count == 100)
        #expect(inside.max()! <= 2, "never more than 2 holders")
        #expect(inside.max()! == 2, "both permits were used at once at some point")
    }

    /// 3 processes × 5 calls through a bucket of 3 per 300 ms: a burst of 3, then one per 100 ms.
    @Test func throttleLimitsCallsAcrossProcesses() throws {
        let dir = TempDir()
        _ = try Cache(directory: dir.path)
        let out = try run((0..<3).map { _ in ["throttle", dir.path, "3", "300", "5"] })
        let times = out.flatMap { $0 }.compactMap { $0.hasPrefix("call ") ? Double($0.dropFirst(5)) : nil }.sorted()
        #expect(times.count == 15)
        // Over any span [t_i, t_j], at most count + rate × span calls (+1 for timestamps taken after the call passed).
        for i in times.indices {
            for j in i..<times.count {
                let allowed = 3 + (times[j] - times[i]) * 10 + 1
                #expect(Double(j - i + 1) <= allowed, "calls \(i)...\(j) in \(times[j] - times[i]) s")
            }
        }
        #expect(times.last! - times.first! >= 1.1, "12 calls after the burst need ≥ 1.2 s at 10 per second")
    }

    @Test func averagerAcrossProcesses() throws {
        let dir = TempDir()
        _ = try Cache(directory: dir.path)
        _ = try run([["averager", dir.path, "50", "1"], ["averager", dir.path, "50", "3"]])
        let avg = Averager(cache: try Cache(directory: dir.path), key: "avg")
        #expect(try avg.count == 100)
        #expect(try avg.average == 2)
        #expect(try avg.pop() == 2)
        #expect(try avg.average == nil)
    }

    /// Four processes miss the same call at once: one computes, the others wait for its result.
    @Test func crossProcessLockComputesOnce() throws {
        let dir = TempDir()
        _ = try Cache(directory: dir.path)
        let out = try run((0..<4).map { _ in ["memo", dir.path, "q", "wait"] })
        let computed = out.flatMap { $0 }.filter { $0 == "computed" }.count
        let results = Set(out.compactMap { $0.last })
        #expect(computed == 1)
        #expect(results.count == 1, "everyone got the one computed result: \(results)")
    }

    /// With a stale result stored, callers that find the lock held serve it instead of waiting.
    @Test func staleResultIsServedWhileAnotherProcessComputes() throws {
        let dir = TempDir()
        let cache = try Cache(directory: dir.path)
        // A stale result under the same call key (its policy always says "invalid").
        let seed = cache.memoize(name: "slow", validity: [.custom { _ in false }]) { (x: String) in "old" }
        _ = try seed("q")
        let out = try run((0..<3).map { _ in ["memo", dir.path, "q", "stale"] })
        let computed = out.flatMap { $0 }.filter { $0 == "computed" }.count
        let results = out.compactMap { $0.last }
        #expect(computed >= 1)
        #expect(results.filter { $0 == "result old" }.count == 3 - computed, "\(results)")
    }

    @Test func dequeSharedByProcesses() throws {
        let dir = TempDir()
        _ = try PersistentDeque<String>(directory: dir.path)
        let out = try run([["deque-append", dir.path, "a", "150"], ["deque-append", dir.path, "b", "150"],
                           ["deque-pop", dir.path, "100"]])
        let popped = out[2].map { String($0.dropFirst(7)) }
        #expect(popped.count == 100)
        let deque = try PersistentDeque<String>(directory: dir.path)
        let rest = try deque.elements()
        #expect(try deque.count == 200)
        let all = popped + rest
        #expect(Set(all).count == 300 && all.count == 300, "no item lost or duplicated")
        for tag in ["a", "b"] {
            let mine = all.filter { $0.hasPrefix(tag + "-") }.map { Int($0.dropFirst(2))! }
            #expect(mine == Array(0..<150), "each producer's items stay in order")
        }
    }
}
