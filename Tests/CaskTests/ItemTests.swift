import CaskTestSupport
import Foundation
import Testing
@testable import Cask

/// The metadata variants of pop, pull, peek and peekItem (diskcache's `expire_time=True, tag=True`),
/// typed peekItem, and listed keys passed back to get and delete.
@Suite("Items with metadata")
struct ItemTests {
    static let start = 1_767_258_000.0

    /// A clock reading in seconds, compared to the µs the records keep.
    static func near(_ a: Double?, _ b: Double) -> Bool { a.map { abs($0 - b) < 0.000_01 } ?? false }

    @Test func popEntryReturnsValueExpiryAndTagAndRemovesOnlyThatEntry() throws {
        let f = try makeCache()
        try f.cache.set("report", Report(id: 7, title: "Q3", scores: [1.5]), expire: 60, tag: "reports")
        try f.cache.set("other", Report(id: 8, title: "Q4", scores: []), expire: 90, tag: "reports")
        f.clock.advance(by: 5)

        let popped = try #require(try f.cache.popEntry("report", as: Report.self))
        #expect(popped.value == Report(id: 7, title: "Q3", scores: [1.5]))
        #expect(Self.near(popped.expireTime, Self.start + 60))
        #expect(popped.tag == "reports")
        #expect(Self.near(popped.storeTime, Self.start))

        #expect(try f.cache.get("report", as: Report.self) == nil)
        #expect(try f.cache.get("other", as: Report.self)?.id == 8)
        #expect(try f.cache.count == 1)
        #expect(try f.cache.popEntry("report", as: Report.self) == nil)
    }

    @Test func popEntryWithoutExpiryOrTagSaysSoAndKeepsTheEntryOnAWrongType() throws {
        let f = try makeCache()
        try f.cache.set("n", 41)
        #expect(throws: CaskError.self) { try f.cache.popEntry("n", as: String.self) }
        #expect(try f.cache.get("n", as: Int.self) == 41, "a pop that cannot decode leaves the entry")
        let popped = try #require(try f.cache.popEntry("n", as: Int.self))
        #expect(popped == CacheEntry(value: 41, expireTime: nil, tag: nil, storeTime: Self.start))
    }

    @Test func popEntryJoinsATransaction() throws {
        let f = try makeCache()
        try f.cache.set("k", "v", tag: "t")
        let popped = try f.cache.transact { tx in try tx.popEntry("k", as: String.self) }
        #expect(popped?.value == "v" && popped?.tag == "t")
        #expect(try !f.cache.contains("k"))
    }

    @Test func concurrentPopEntriesHandOutEachEntryOnce() async throws {
        let f = try makeCache()
        let keys = (0..<200).map { "k\($0)" }
        try f.cache.set(many: keys.map { ($0, $0) }, tag: "batch")
        let cache = f.cache
        let got = try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<2 {
                group.addTask {
                    try keys.compactMap { k in try cache.popEntry(k, as: String.self).map { "\($0.value)/\($0.tag ?? "")" } }
                }
            }
            return try await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(got.sorted() == keys.map { "\($0)/batch" }.sorted())
        #expect(try f.cache.count == 0)
    }

    @Test func peekAndPullEntriesCarryKeyExpiryAndTag() throws {
        let f = try makeCache()
        let firstKey = try f.cache.push("job-1", prefix: "jobs", expire: 30, tag: "batch-a")
        f.clock.advance(by: 1)
        try f.cache.push("job-2", prefix: "jobs", tag: "batch-b")

        let peeked = try #require(try f.cache.peekEntry(prefix: "jobs", as: String.self))
        #expect(peeked.key == firstKey && peeked.value == "job-1" && peeked.tag == "batch-a")
        #expect(Self.near(peeked.expireTime, Self.start + 30))
        #expect(try f.cache.get(peeked.key, as: String.self) == "job-1", "peeking leaves the item")

        let pulled = try #require(try f.cache.pullEntry(prefix: "jobs", as: String.self))
        #expect(pulled == peeked)
        #expect(pulled.key.description == "jobs-500000000000000", "as README shows it")
        #expect(try f.cache.get(pulled.key, as: String.self) == nil)

        let back = try #require(try f.cache.peekEntry(prefix: "jobs", side: .back, as: String.self))
        #expect(back.value == "job-2" && back.tag == "batch-b" && back.expireTime == nil)
        #expect(Self.near(back.storeTime, Self.start + 1))
        #expect(try f.cache.pullEntry(prefix: "jobs", as: String.self)?.value == "job-2")
        #expect(try f.cache.pullEntry(prefix: "jobs", as: String.self) == nil)
    }

    @Test func pullEntryOnAWrongTypeThrowsAndKeepsTheItem() throws {
        let f = try makeCache()
        try f.cache.push(Report(id: 1, title: "a", scores: []), prefix: "q")
        #expect(throws: CaskError.self) { try f.cache.pullEntry(prefix: "q", as: Int.self) }
        #expect(try f.cache.pull(prefix: "q", as: Report.self)?.value.id == 1)
    }

    @Test func typedPeekItemDecodesTheNewestOrOldestWithMetadata() throws {
        let f = try makeCache()
        try f.cache.set("first", Report(id: 1, title: "old", scores: []), tag: "r")
        f.clock.advance(by: 1)
        try f.cache.set("second", Report(id: 2, title: "new", scores: [2]), expire: 10, tag: "r")

        let newest = try #require(try f.cache.peekItem(as: Report.self))
        #expect(newest.key == .string("second") && newest.value.title == "new")
        #expect(newest.tag == "r" && Self.near(newest.expireTime, Self.start + 1 + 10))
        let oldest = try #require(try f.cache.peekItem(last: false, as: Report.self))
        #expect(oldest.key == .string("first") && oldest.value.id == 1 && oldest.expireTime == nil)
        #expect(try f.cache.count == 2, "peeking removes nothing")

        try f.cache.set("count", 3)
        #expect(try f.cache.peekItem()?.value == .integer(3), "untyped, the value comes back as stored")
        #expect(try f.cache.peekItem(as: Int.self)?.value == 3)
    }

    @Test func typedPeekItemOnAWrongTypeThrowsATypeMismatch() throws {
        let f = try makeCache()
        try f.cache.set("report", Report(id: 1, title: "t", scores: []))
        do {
            _ = try f.cache.peekItem(as: Int.self)
            Issue.record("peekItem decoded a Report as an Int")
        } catch let error as CaskError {
            #expect(error.code == .typeMismatch)
            #expect("\(error)".contains("Int"), "the message names the type asked for: \(error)")
        }
        struct Other: Codable { var missing: String }
        #expect(throws: CaskError.self) { try f.cache.peekItem(as: Other.self) }
        #expect(throws: CaskError.self) { try f.cache.peekItem(as: [UInt8].self) }
    }

    @Test func listedKeysPassBackToGetAndDelete() throws {
        let f = try makeCache()
        let bytesKey: [UInt8] = [0, 255, 7]
        try f.cache.set("name", "text")
        try f.cache.set(bytesKey, "bytes")
        try f.cache.set(42, "integer")
        try f.cache.set(2.5, "double")
        try f.cache.set(CodableKey(["a": 1]), "json")

        let keys = try f.cache.keys()
        #expect(keys == [.string("name"), .bytes(bytesKey), .integer("42"), .double("2.5"), .json("{\"a\":1}")])
        #expect(try keys.map { try f.cache.get($0, as: String.self) } == ["text", "bytes", "integer", "double", "json"])
        for key in keys { #expect(try f.cache.delete(key), "\(key)") }
        #expect(try f.cache.count == 0)
    }

    @Test func storedKeysRoundTripTheirExactBytes() {
        let samples: [[UInt8]] = [
            "s".utf8 + [0xE2, 0x82, 0xAC], [0x69, 0xFF, 0x31], [0x66, 0xC3], [0x6A, 0x80], [0x73, 0xFE],
            [0x62], [], [0x7A, 0x01],
        ]
        for bytes in samples { #expect(StoredKey(bytes: bytes).cacheKeyBytes == bytes, "\(bytes)") }
        #expect(StoredKey(bytes: [0x69, 0xFF, 0x31]) == .raw([0x69, 0xFF, 0x31]))
    }

    @Test func writesDuringAWalkOfTheKeysNeitherBlockNorJoinIt() throws {
        let f = try makeCache()
        for i in 0..<20 { try f.cache.set("old\(i)", i) }
        var seen: [StoredKey] = []
        for key in try f.cache.keys() {
            seen.append(key)
            if key == .string("old19") {
                // Deleted after the listing (below, on the first key): listed, and gone.
                #expect(try f.cache.get(key, as: Int.self) == nil)
                #expect(try !f.cache.delete(key))
                continue
            }
            // Every shard is writable while the walk goes on: no lock is held across it.
            #expect(try f.cache.delete(key))
            if seen.count == 1 { #expect(try f.cache.delete("old19")) }
            try f.cache.set("new\(seen.count)", seen.count)
        }
        #expect(seen == (0..<20).map { .string("old\($0)") }, "keys stored during the walk are not part of it")
        #expect(try f.cache.keys() == (1...19).map { .string("new\($0)") })
    }
}
