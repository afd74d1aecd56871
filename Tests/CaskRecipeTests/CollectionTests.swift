import CaskTestSupport
import Foundation
import Synchronization
import Testing
@testable import Cask

@Suite("Persistent collections")
struct CollectionTests {
    @Test func dequeBothEndsAndMaxLength() throws {
        let dir = TempDir()
        let d = try PersistentDeque<Int>(directory: dir.path)
        #expect(try d.popFirst() == nil && d.first == nil && d.count == 0)
        for i in 1...3 { try d.append(i) }
        try d.prepend(0)
        #expect(try d.elements() == [0, 1, 2, 3])
        #expect(try d.elements(reversed: true) == [3, 2, 1, 0])
        #expect(Array(d) == [0, 1, 2, 3])
        #expect(try d.first == 0 && d.last == 3 && d.count == 4)
        #expect(try d.popFirst() == 0 && d.popLast() == 3 && d.count == 2)
        // Reopened: still there.
        let again = try PersistentDeque<Int>(directory: dir.path)
        #expect(try again.elements() == [1, 2])

        let bounded = try PersistentDeque<String>(cache: again.cache, name: "bounded", maxLength: 3)
        for s in ["a", "b", "c", "d"] { try bounded.append(s) }
        #expect(try bounded.elements() == ["b", "c", "d"])
        try bounded.prepend("z")
        #expect(try bounded.elements() == ["z", "b", "c"])
        try bounded.removeAll()
        #expect(try bounded.isEmpty && bounded.elements() == [])
        #expect(try again.elements() == [1, 2], "deques in one cache are separate")
    }

    @Test func indexKeepsInsertionOrder() throws {
        let dir = TempDir()
        let index = try PersistentIndex<String, Int>(directory: dir.path)
        #expect(try index["a"] == nil)
        for (i, k) in ["c", "a", "b"].enumerated() { #expect(try index.updateValue(i, forKey: k) == nil) }
        #expect(try index.updateValue(10, forKey: "c") == 0, "existing key keeps its place")
        #expect(try index.keys() == ["c", "a", "b"])
        #expect(try index.values() == [10, 1, 2])
        #expect(try index.items(reversed: true).map(\.key) == ["b", "a", "c"])
        #expect(try index["c"] == 10 && index.count == 3)
        #expect(try index.removeValue(forKey: "a") == 1)
        #expect(try index.removeValue(forKey: "a") == nil)
        try index.updateValue(5, forKey: "d")
        #expect(try index.keys() == ["c", "b", "d"])
        #expect(try index.popFirst()! == ("c", 10))
        #expect(try index.popLast()! == ("d", 5))
        let reopened = try PersistentIndex<String, Int>(directory: dir.path)
        #expect(try reopened.keys() == ["b"] && reopened.count == 1)
        #expect(try reopened.popFirst()! == ("b", 2))
        #expect(try reopened.popFirst() == nil && reopened.isEmpty)

        let runs = Counter()
        let twice = reopened.memoize(name: "twice") { (x: Int) in runs.bump(); return 2 * x }
        #expect(try twice(4) == 8 && twice(4) == 8 && runs.value == 1)
        #expect(try reopened.keys().isEmpty, "memoized results are not index entries")
    }

    @Test func indexNeedsACacheThatNeverEvicts() throws {
        let f = try makeCache()
        #expect { try PersistentIndex<String, Int>(cache: f.cache, name: "i") } throws: { ($0 as? CaskError)?.code == .invalidArgument }
    }

    @Test func recipesInOneProcess() throws {
        let f = try makeCache()
        let lock = try Lock(cache: f.cache, name: "l")
        let held = try #require(try lock.tryAcquire())
        #expect(try lock.tryAcquire() == nil, "a second descriptor is refused, even in one process")
        #expect { try lock.acquire(timeout: .milliseconds(20)) } throws: { ($0 as? CaskError)?.code == .timedOut }
        held.release()
        #expect(try lock.tryAcquire() != nil)

        let rlock = try RLock(cache: f.cache, name: "r")
        let depth = try rlock.withLock { try rlock.withLock { rlock.isHeldByCurrentOwner ? 2 : 0 } }
        #expect(depth == 2 && !rlock.isHeldByCurrentOwner)

        let sem = try BoundedSemaphore(cache: f.cache, name: "s", limit: 2)
        let a = try #require(try sem.tryAcquire())
        let b = try #require(try sem.tryAcquire())
        #expect(try sem.tryAcquire() == nil)
        a.release()
        #expect(try sem.tryAcquire() != nil)
        b.release()

        // The token bucket on the frozen clock: 2 per 10 s.
        let t = try Throttle(cache: f.cache, name: "t", count: 2, per: .seconds(10))
        #expect(try t.tryAcquire() && t.tryAcquire())
        #expect(try !t.tryAcquire())
        f.clock.advance(by: 4.9)
        #expect(try !t.tryAcquire())
        f.clock.advance(by: 0.1)
        #expect(try t.tryAcquire())
        #expect(try !t.tryAcquire())
        f.clock.advance(by: 100)
        #expect(try t.tryAcquire() && t.tryAcquire() && !t.tryAcquire(), "the bucket holds at most 2")
    }
}

/// Issue "above the engine", item 13 and a defect found by reading.
@Suite("Collection bookkeeping")
struct CollectionBookkeepingTests {
    /// Removing keys from the middle must not leave the order walk growing without bound: the
    /// span of order slots stays proportional to the live keys.
    @Test func indexOrderStaysCompact() throws {
        let dir = TemporaryDirectory()
        let index = try PersistentIndex<String, Int>(directory: dir.path)
        try index.updateValue(0, forKey: "first")
        for i in 0..<600 {
            try index.updateValue(i, forKey: "k\(i)")
            // Remove the previous key: a hole behind the newest, in front of "first".
            if i > 0 { try index.removeValue(forKey: "k\(i - 1)") }
        }
        let span = try index.cache.transact { tx -> Int64 in
            let (head, tail) = try tx.queueBounds(index.slotPrefix)
            return tail - head
        }
        #expect(span <= 2 * 2 + 64, "600 removals left a span of \(span) slots for 2 live keys")
        #expect(try index.keys() == ["first", "k599"])
        #expect(try index["k599"] == 599)
        try index.updateValue(1, forKey: "last")
        #expect(try index.keys() == ["first", "k599", "last"])
        #expect(try index.popFirst()?.key == "first")
        #expect(try index.count == 2)
    }

    /// `removeAll` reads the deque's bounds inside its transaction, so an item appended by another
    /// handle meanwhile is removed too, never orphaned outside the bounds (where no pop reaches it).
    @Test func dequeRemoveAllLeavesNoOrphans() throws {
        let dir = TemporaryDirectory()
        let a = try PersistentDeque<Int>(directory: dir.path)
        let b = try PersistentDeque<Int>(directory: dir.path)
        let stop = Atomic(false)
        let appender = Thread {
            var i = 0
            while !stop.load(ordering: .relaxed) { try? b.append(i); i += 1 }
        }
        appender.start()
        let deadline = Date().addingTimeInterval(1.5)
        var rounds = 0
        while Date() < deadline && rounds < 3000 {
            try a.removeAll()
            rounds += 1
        }
        stop.store(true, ordering: .relaxed)
        while !appender.isFinished { usleep(1000) }
        // Every item record must lie inside the bounds: the deque counts all the cache holds.
        #expect(try a.cache.keys().count == a.count, "after \(rounds) removeAll calls")
    }
}
