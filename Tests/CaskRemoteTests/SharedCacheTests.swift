import Cask
import CaskTestSupport
import Foundation
import Synchronization
import Testing
@testable import CaskRemote

/// Two cache directories sharing one `redis-server` the test starts on loopback.
@Suite("Shared tier on Redis", .enabled(if: RedisServer.isAvailable), .serialized)
struct SharedCacheTests {
    struct Report: Codable, Equatable { var rows: Int; var name: String }

    /// A cache in a directory of its own with the server as its shared tier.
    final class Machine: @unchecked Sendable {
        // @unchecked: immutable after init.
        let dir = TemporaryDirectory("cask-shared")
        let shared: SharedCache

        init(_ server: RedisServer, timeout: Duration = .milliseconds(500), breaker: SharedBreakerSettings = SharedBreakerSettings(),
             clock: any CacheClock = SystemClock(), localTrust: Duration? = nil) throws {
            var configuration = server.configuration
            configuration.timeout = timeout
            shared = SharedCache(cache: try Cache(directory: dir.path, clock: clock), tier: RedisTier(configuration: configuration),
                                 breaker: breaker, localTrust: localTrust)
        }

        deinit { try? shared.cache.close() }
    }

    /// The remaining expiry sent to Redis is measured on the cache's own clock: a cache whose clock
    /// runs a year behind the wall clock shares an entry with an hour left, not one long expired.
    @Test func remainingExpiryIsMeasuredOnTheCachesClock() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let yearAgo = Date().timeIntervalSince1970 - 365 * 86_400
        let a = try Machine(server, clock: ManualClock(now: yearAgo)), b = try Machine(server, clock: ManualClock(now: yearAgo))
        try a.shared.set("note", "shared", expire: 3600)
        let entry = try #require(try b.shared.entry("note", as: String.self))
        #expect(entry.value == "shared")
        let expire = try #require(entry.expireTime)
        #expect(expire > yearAgo + 3500 && expire <= yearAgo + 3600.5)
    }

    @Test func aValueSetOnOneMachineIsAHitOnTheOther() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let a = try Machine(server), b = try Machine(server)
        let now = Date().timeIntervalSince1970
        try a.shared.set("report", Report(rows: 3, name: "daily"), expire: 60, tag: "reports")
        try a.shared.set("blob", [0, 1, 255] as [UInt8])
        try a.shared.set("count", 41)
        try a.shared.set("title", "Q4", tag: "reports")

        #expect(try b.shared.cache.get("report", as: Report.self) == nil)
        let entry = try #require(try b.shared.entry("report", as: Report.self))
        #expect(entry.value == Report(rows: 3, name: "daily"))
        #expect(entry.tag == "reports")
        let expire = try #require(entry.expireTime)
        #expect(expire > now + 55 && expire <= Date().timeIntervalSince1970 + 60.5)
        let blob: [UInt8]? = try b.shared.get("blob")
        #expect(blob == [0, 1, 255])
        #expect(try b.shared.get("count", as: Int.self) == 41)
        #expect(try b.shared.cache.incr("count") == 42)      // kept locally as an integer, as on `a`
        #expect(try b.shared.entry("title", as: String.self)?.tag == "reports")
        #expect(try b.shared.get("absent", as: String.self) == nil)

        // Now local on `b`: the next reads do not ask the tier.
        #expect(try b.shared.cache.get("report", as: Report.self) == Report(rows: 3, name: "daily"))
        #expect(try b.shared.get("report", as: Report.self) == Report(rows: 3, name: "daily"))
        let stats = b.shared.statistics
        #expect(stats.hits == 4 && stats.misses == 1 && stats.errors == 0 && !stats.breakerOpen)
        #expect(a.shared.statistics.errors == 0)
        withExtendedLifetime(a) {}
    }

    @Test func theTierKeepsTheEntryAsLongAsItsExpiry() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let a = try Machine(server)
        try a.shared.set("soon", "x", expire: 20)
        let raw = RedisClient(server.configuration)
        guard case .integer(let ttl) = try raw.command([Array("PTTL".utf8), Array("cask:".utf8) + "soon".cacheKeyBytes]) else {
            Issue.record("PTTL is not an integer")
            return
        }
        #expect(ttl > 15_000 && ttl <= 20_000)
        let record = try #require(try raw.get(Array("cask:".utf8) + "soon".cacheKeyBytes))
        let envelope = try #require(SharedEnvelope(decoding: record))
        #expect(envelope.value == .string("x") && envelope.tag == nil && envelope.expireTime != nil)
    }

    /// With a trust cap, a local copy of a shared entry is asked for again after the cap, so a
    /// write made elsewhere is seen within it; without one, the copy is served until it expires.
    @Test func aTrustCapBoundsHowLongALocalCopyIsServed() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let clock = ManualClock(now: Date().timeIntervalSince1970)
        let a = try Machine(server), b = try Machine(server, clock: clock, localTrust: .seconds(30))
        let c = try Machine(server, clock: clock)
        try a.shared.set("k", "v1", expire: 3600)
        #expect(try b.shared.get("k", as: String.self) == "v1")
        #expect(try c.shared.get("k", as: String.self) == "v1")
        let trusted = try #require(try b.shared.entry("k", as: String.self)?.expireTime)
        #expect(trusted <= clock.now + 30.001)   // stored in µs
        try a.shared.set("k", "v2", expire: 3600)
        #expect(try b.shared.get("k", as: String.self) == "v1")   // still trusted
        clock.advance(by: 31)
        #expect(try b.shared.get("k", as: String.self) == "v2")   // asked the tier again
        #expect(try c.shared.get("k", as: String.self) == "v1")   // no cap: kept until its own expiry
    }

    /// `set(many:)` and `get(many:)`: batches in one pipeline, values and tags as one by one.
    @Test func batchesCarryEveryEntry() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let a = try Machine(server), b = try Machine(server)
        try a.shared.set(many: (0..<100).map { ("m\($0)", Report(rows: $0, name: "r\($0)")) }, expire: 600, tag: "batch")
        try b.shared.set("m5", Report(rows: -1, name: "local"))          // a local value wins
        let keys = (0..<100).map { "m\($0)" } + ["absent"]
        let values = try b.shared.get(many: keys, as: Report.self)
        #expect(values.count == 101)
        for i in 0..<100 where i != 5 { #expect(values[i] == Report(rows: i, name: "r\(i)")) }
        #expect(values[5] == Report(rows: -1, name: "local") && values[100] == nil)
        #expect(b.shared.statistics.hits == 99 && b.shared.statistics.misses == 1)
        #expect(try b.shared.entry("m7", as: Report.self)?.tag == "batch")
        #expect(try b.shared.evict(tag: "batch") == 99)
    }

    @Test func deletePropagates() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let a = try Machine(server), b = try Machine(server)
        try a.shared.set("k", "v")
        #expect(try b.shared.get("k", as: String.self) == "v")
        #expect(try b.shared.delete("k"))
        #expect(try a.shared.cache.get("k", as: String.self) == "v")   // a's local copy stays (documented)
        let c = try Machine(server)
        #expect(try c.shared.get("k", as: String.self) == nil)
        #expect(try RedisClient(server.configuration).get(Array("cask:".utf8) + "k".cacheKeyBytes) == nil)
        #expect(c.shared.statistics.misses == 1)
        withExtendedLifetime((a, b)) {}
    }

    @Test func threadsShareOneConnection() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let a = try Machine(server), b = try Machine(server)
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in 0..<25 { try? a.shared.set("t\(t)-\(i)", i, tag: "t\(t)") }
        }
        let found = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in 0..<25 {
                guard let entry = try? b.shared.entry("t\(t)-\(i)", as: Int.self) else { continue }
                if entry.value == i && entry.tag == "t\(t)" { found.withLock { $0 += 1 } }
            }
        }
        #expect(found.withLock { $0 } == 100)
        #expect(a.shared.statistics.errors == 0 && b.shared.statistics.errors == 0 && b.shared.statistics.hits == 100)
        withExtendedLifetime((a, b)) {}
    }

    @Test func aStoppedServerNeverFailsLocalOperations() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let a = try Machine(server, timeout: .milliseconds(50), breaker: SharedBreakerSettings(failureThreshold: 100))
        try a.shared.set("before", "kept")
        server.stop()

        let started = ContinuousClock.now
        try a.shared.set("after", "local only", expire: 30, tag: "t")
        #expect(try a.shared.get("after", as: String.self) == "local only")
        #expect(try a.shared.get("before", as: String.self) == "kept")
        #expect(try a.shared.get("absent", as: String.self) == nil)
        #expect(try a.shared.delete("before"))
        #expect(try a.shared.get("before", as: String.self) == nil)
        // Four tier calls (set, two misses, delete), each bounded by the 50 ms timeout.
        #expect(ContinuousClock.now - started < .seconds(2))
        let stats = a.shared.statistics
        #expect(stats.errors == 4 && stats.hits == 0 && stats.misses == 0)
    }

    @Test func theBreakerOpensAndClosesWhenTheServerReturns() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let a = try Machine(server, timeout: .milliseconds(50),
                            breaker: SharedBreakerSettings(failureThreshold: 3, probeInterval: .milliseconds(200)))
        server.stop()
        for i in 0..<3 { #expect(try a.shared.get("k\(i)", as: String.self) == nil) }
        var stats = a.shared.statistics
        #expect(stats.errors == 3 && stats.breakerOpen)

        // Open: the tier is not called at all.
        try a.shared.set("local", "v")
        #expect(try a.shared.get("absent", as: String.self) == nil)
        stats = a.shared.statistics
        #expect(stats.errors == 3 && stats.skipped == 2 && stats.breakerOpen)

        // Still down after the probe interval: the probe fails and the breaker stays open.
        Thread.sleep(forTimeInterval: 0.25)
        #expect(try a.shared.get("absent", as: String.self) == nil)
        stats = a.shared.statistics
        #expect(stats.errors == 4 && stats.breakerOpen)

        try server.start()
        try RedisClient(server.configuration).set(Array("cask:".utf8) + "remote".cacheKeyBytes,
                                                  SharedEnvelope(value: .string("there"), expireTime: nil, tag: nil).encoded())
        Thread.sleep(forTimeInterval: 0.25)
        #expect(try a.shared.get("remote", as: String.self) == "there")
        stats = a.shared.statistics
        #expect(!stats.breakerOpen && stats.hits == 1 && stats.errors == 4)
        try a.shared.set("again", "shared")
        let b = try Machine(server)
        #expect(try b.shared.get("again", as: String.self) == "shared")
        withExtendedLifetime(b) {}
    }
}
