import Cask
import CaskTestSupport
import Foundation
import Testing
@testable import CaskRemote

/// `evict(tag:)` and `clear()` reach the shared tier (tag sets in Redis), and the tier's
/// counters are the cache directory's.
@Suite("Shared tier: tags, clear, counters", .enabled(if: RedisServer.isAvailable), .serialized)
struct SharedRemovalTests {
    typealias Machine = SharedCacheTests.Machine

    func pttl(_ server: RedisServer, _ key: [UInt8]) throws -> Int64 {
        guard case .integer(let ttl) = try RedisClient(server.configuration).command([bytes("PTTL"), key]) else { return -3 }
        return ttl
    }

    @Test func evictByTagReachesTheTier() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let a = try Machine(server), b = try Machine(server)
        for i in 0..<20 { try a.shared.set("r\(i)", i, expire: 60, tag: "reports") }
        for i in 0..<5 { try a.shared.set("o\(i)", i, tag: "other") }
        try a.shared.set("plain", "untagged")
        try a.shared.set("r0", "moved to another tag", tag: "other")   // no longer a report
        #expect(try b.shared.get("r1", as: Int.self) == 1)                // b holds a local copy

        // The tag's set lives as long as its longest-lived member; a member without expiry keeps it.
        let reports = bytes("cask-tag:reports"), other = bytes("cask-tag:other")
        #expect(try (55_000...60_000).contains(pttl(server, reports)))
        #expect(try pttl(server, other) == -1)

        #expect(try a.shared.evict(tag: "reports") == 19)
        let c = try Machine(server)
        for i in 1..<20 { #expect(try c.shared.get("r\(i)", as: Int.self) == nil) }
        #expect(try c.shared.get("r0", as: String.self) == "moved to another tag")
        for i in 0..<5 { #expect(try c.shared.get("o\(i)", as: Int.self) == i) }
        #expect(try c.shared.get("plain", as: String.self) == "untagged")
        #expect(try pttl(server, reports) == -2)                          // the set is gone
        #expect(try b.shared.get("r1", as: Int.self) == 1)                // b's copy stays (documented)
        #expect(try b.shared.evict(tag: "reports") == 1)                  // until b evicts it too
        #expect(a.shared.statistics.errors == 0 && c.shared.statistics.errors == 0)
    }

    @Test func clearEmptiesTheTierButNotOtherKeys() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let a = try Machine(server)
        let raw = RedisClient(server.configuration)
        try raw.set(bytes("elsewhere:x"), bytes("kept"))
        try raw.set(bytes("cask*[x]"), bytes("kept"))                    // glob characters are matched literally
        for i in 0..<2500 { try a.shared.set("k\(i)", i, tag: i % 2 == 0 ? "even" : nil) }
        #expect(try a.shared.clear() == 2500)
        guard case .integer(let left) = try raw.command([bytes("DBSIZE")]) else {
            Issue.record("DBSIZE is not an integer")
            return
        }
        #expect(left == 2)
        #expect(try raw.get(bytes("elsewhere:x")) == bytes("kept"))
        let b = try Machine(server)
        #expect(try b.shared.get("k1", as: Int.self) == nil)
    }

    /// Hits, misses and errors of the tier are counted in the directory's shared counters, which
    /// every process of the directory adds to (and `cask stats` shows).
    @Test func tierEventsAreCountedInTheDirectorysStatistics() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let a = try Machine(server), b = try Machine(server, timeout: .milliseconds(50))
        try a.shared.set("x", 1)
        #expect(try b.shared.get("x", as: Int.self) == 1)
        #expect(try b.shared.get("y", as: Int.self) == nil)
        server.stop()
        #expect(try b.shared.get("z", as: Int.self) == nil)
        let reopened = try Cache(directory: b.dir.path)
        let stats = try reopened.stats()
        #expect(stats.sharedHits == 1 && stats.sharedMisses == 1 && stats.sharedErrors == 1)
        try reopened.close()
    }
}
