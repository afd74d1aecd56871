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
}
