import CaskTestSupport
import Foundation
import Testing
@testable import Cask

@Suite("Expiry limits")
struct ExpiryTests {
    /// Compaction keeps what the cache's clock says is live: the fixture's clock is months
    /// behind the wall clock, so by the wall clock this entry expired long ago.
    @Test func compactionKeepsWhatTheCachesClockSaysIsLive() throws {
        let fixture = try makeCache()
        let cache = fixture.cache
        try cache.set("live", "still here", expire: 3600)
        try cache.set("gone", "expired", expire: 10)
        for i in 0..<50 { try cache.set("churn", "overwritten \(i)") }
        fixture.clock.advance(by: 60)
        _ = try cache.compact()
        #expect(try cache.get("live", as: String.self) == "still here")
        #expect(try cache.get("gone", as: String.self) == nil)
        let reopened = try Cache(directory: fixture.dir.path, clock: fixture.clock)
        #expect(try reopened.get("live", as: String.self) == "still here")
        try reopened.close()
    }

    /// An expiry beyond what the on-disk time (µs in an Int64) can hold means "never expires",
    /// through every API that takes one; nothing traps.
    @Test func hugeExpiryNeverExpires() throws {
        let fixture = try makeCache()
        let cache = fixture.cache
        let huge: [Expiry] = [Expiry(seconds: 1e300), .after(.seconds(Int64.max)), Expiry(seconds: 9.3e12), Expiry(seconds: .infinity)]
        for (i, e) in huge.enumerated() {
            try cache.set("set\(i)", [1], expire: e)
            #expect(try cache.add("add\(i)", "v", expire: e))
            try cache.set(many: [("many\(i)", 1)], expire: e)
            try cache.push("item", prefix: "q\(i)", expire: e)
            try cache.set("touched\(i)", [2], expire: 10)
            #expect(try cache.touch("touched\(i)", expire: e))
        }
        fixture.clock.advance(by: 1e9)
        for i in huge.indices {
            for key in ["set\(i)", "add\(i)", "many\(i)", "touched\(i)"] {
                let entry = try cache.storedValue(key)
                #expect(entry != nil, "\(key)")
                #expect(entry?.expireTime == nil, "\(key)")
            }
            #expect(try cache.pull(prefix: "q\(i)", as: String.self)?.value == "item")
        }
    }

    /// NaN and negative expiries are invalid arguments; the stored value is untouched.
    @Test func nanAndNegativeExpiriesAreRefused() throws {
        let fixture = try makeCache()
        let cache = fixture.cache
        try cache.set("k", [UInt8]([1]), expire: 60)
        for e in [Expiry(seconds: .nan), Expiry(seconds: -1), Expiry(seconds: -.infinity)] {
            #expect { try cache.set("k", [UInt8]([2]), expire: e) } throws: { ($0 as? CaskError)?.code == .invalidArgument }
            #expect { try cache.add("new", [2], expire: e) } throws: { ($0 as? CaskError)?.code == .invalidArgument }
            #expect { try cache.touch("k", expire: e) } throws: { ($0 as? CaskError)?.code == .invalidArgument }
            #expect { try cache.set(many: [("k", [UInt8]([3]))], expire: e) } throws: { ($0 as? CaskError)?.code == .invalidArgument }
        }
        let entry = try cache.entry("k", as: [UInt8].self)
        #expect(entry?.value == [1])
        #expect(abs((entry?.expireTime ?? 0) - (1_767_258_000 + 60)) < 0.001)
        #expect(try cache.contains("new") == false)
        // Zero stays valid: the entry is expired at once.
        try cache.set("zero", [1], expire: 0)
        #expect(try cache.get("zero") == nil)
    }

    /// A validity policy with a huge duration never expires the memoized result.
    @Test func hugeValidityDurationNeverExpires() throws {
        let fixture = try makeCache()
        let calls = CallCount()
        let f = fixture.cache.memoize(name: "f", validity: [.expires(after: .seconds(Int64.max))]) { (x: Int) -> Int in
            calls.increment()
            return x * 2
        }
        #expect(try f(21) == 42)
        fixture.clock.advance(by: 1e9)
        #expect(try f(21) == 42)
        #expect(calls.value == 1)
    }
}

final class CallCount: @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    private let lock = NSLock()
    private var n = 0
    func increment() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}
