import CaskTestSupport
import Foundation
import Testing
@testable import Cask

@Suite("Cache across processes")
struct MultiProcessCacheTests {
    let worker = builtExecutable("cask-test-worker")

    func spawn(_ args: [String]) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: worker)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        return (p, out)
    }

    func finish(_ child: (Process, Pipe)) -> (Int32, [String]) {
        let text = String(decoding: child.1.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.0.waitUntilExit()
        return (child.0.terminationStatus, text.split(separator: "\n").map(String.init))
    }

    /// Two processes race `add` over the same keys: every key is added exactly once.
    @Test func addRacingAddSucceedsOncePerKey() throws {
        let dir = TempDir()
        let keys = 300
        let a = try spawn(["cache-add", dir.path, "A", String(keys)])
        let b = try spawn(["cache-add", dir.path, "B", String(keys)])
        let (sa, la) = finish(a)
        let (sb, lb) = finish(b)
        #expect(sa == 0 && sb == 0)
        let addedA = Set(la.map { Int($0.split(separator: " ")[1])! })
        let addedB = Set(lb.map { Int($0.split(separator: " ")[1])! })
        #expect(addedA.isDisjoint(with: addedB), "no key was added twice")
        #expect(addedA.union(addedB) == Set(0..<keys), "every key was added once")
        let cache = try Cache(directory: dir.path)
        for i in 0..<keys {
            let owner = try cache.get("a\(i)", as: String.self)
            #expect(owner == (addedA.contains(i) ? "A" : "B"))
        }
    }

    /// Two processes overwrite and pop the same keys (values in records and in value files): every
    /// popped value comes with the tag and expiry written with it, and no write is popped twice.
    @Test func popEntryRacingWritesAndPopsReturnsWholeEntries() throws {
        let dir = TempDir()
        let a = try spawn(["cache-pop-race", dir.path, "A", "300"])
        let b = try spawn(["cache-pop-race", dir.path, "B", "300"])
        let (sa, la) = finish(a)
        let (sb, lb) = finish(b)
        #expect(sa == 0 && sb == 0, "\(la.suffix(2)) \(lb.suffix(2))")
        #expect((la + lb).filter { !$0.hasPrefix("popped ") }.isEmpty, "\((la + lb).filter { !$0.hasPrefix("popped ") }.prefix(3))")
        let marks = (la + lb).map { $0.dropFirst(7) }
        #expect(Set(marks).count == marks.count, "a write was popped twice")
        #expect(marks.contains { $0.hasPrefix("A:") } && marks.contains { $0.hasPrefix("B:") })
    }

    /// Several processes x threads doing random operations on one directory; afterwards the
    /// counters add up exactly and `check()` finds the cache healthy.
    @Test func stressOfProcessesAndThreadsLeavesAHealthyCache() throws {
        let dir = TempDir()
        let ops = Int(ProcessInfo.processInfo.environment["CASK_STRESS_OPS"] ?? "") ?? 400
        let children = try (1...3).map { seed in try spawn(["cache-stress", dir.path, String(seed), String(ops), "3"]) }
        var increments: [Int] = []
        for child in children {
            let (status, lines) = finish(child)
            #expect(status == 0, "\(lines.suffix(3))")
            if let last = lines.last, last.hasPrefix("increments ") { increments.append(Int(last.dropFirst(11))!) }
        }
        #expect(increments.count == 3)
        let cache = try Cache(directory: dir.path)
        // Every increment by every thread of every process is counted exactly once.
        #expect(try cache.get("shared-counter", as: Int.self) == increments.reduce(0, +))
        #expect(increments.reduce(0, +) > 0)
        let report = try cache.check()
        #expect(report.isHealthy, "\(report)")
        #expect(try cache.store.checkInvariants() == nil)
    }
}
