import CaskTestSupport
import Foundation
import Testing
@testable import Cask

@Suite("Memoize edge cases")
struct MemoizeEdgeTests {
    /// Moving the clock back a day: a result whose computed-at is in the future is not served.
    @Test func resultComputedInTheFutureIsInvalid() throws {
        let f = try makeCache()
        let utc = TimeZone(identifier: "UTC")!
        let runs = Counter()
        let daily = f.cache.memoize(name: "daily", validity: [.calendarPeriod(.day, in: utc)]) { (x: Int) in runs.bump() }
        let ttl = f.cache.memoize(name: "ttl", validity: [.expires(after: .seconds(3600))]) { (x: Int) in runs.bump() }
        f.clock.advance(by: 86_400)                   // "tomorrow"
        #expect(try daily(0) == 1 && ttl(0) == 2)
        f.clock.advance(by: -86_400)                  // back to today
        #expect(try daily(0) == 3, "tomorrow's result is not today's")
        #expect(try ttl(0) == 4)
        #expect(try daily(0) == 3 && ttl(0) == 4)
    }

    /// Stale serving needs the cross-process lock; without it a result with a time-based policy
    /// expires from the store like any other instead of being kept forever.
    @Test func serveStaleWithoutTheLockDoesNotKeepResultsForever() throws {
        let f = try makeCache()
        let runs = Counter()
        let g = f.cache.memoize(name: "g", validity: [.expires(after: .seconds(10))],
                                stampede: StampedeProtection(serveStale: true)) { (x: Int) in runs.bump() }
        #expect(try g(0) == 1)
        f.clock.advance(by: 11)
        #expect(try g.info(for: 0) == nil, "the expired result is removed, not kept")
        #expect(try f.cache.keys(tag: "memo:g").isEmpty)
        #expect(try g(0) == 2)
        // With the lock, the stale result is kept (to be served while another process recomputes).
        let h = f.cache.memoize(name: "h", validity: [.expires(after: .seconds(10))],
                                stampede: StampedeProtection(crossProcessLock: true, serveStale: true)) { (x: Int) in runs.bump() }
        #expect(try h(0) == 3)
        f.clock.advance(by: 11)
        #expect(try h.info(for: 0) != nil)
    }

    /// The envelope stores the version's length in 16 bits: a longer version is refused, not a trap.
    @Test func overlongVersionIsAClearError() throws {
        let f = try makeCache()
        let long = String(repeating: "v", count: 70_000)
        let g = f.cache.memoize(name: "g", version: long) { (x: Int) in x }
        #expect { try g(1) } throws: { ($0 as? CaskError)?.code == .invalidArgument }
        let ok = f.cache.memoize(name: "g", version: String(repeating: "v", count: 1_000)) { (x: Int) in x + 1 }
        #expect(try ok(1) == 2 && ok(1) == 2)
    }
}
