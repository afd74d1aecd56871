import CaskTestSupport
import Foundation
import Testing
@testable import Cask

@Suite("Cache operations")
struct CacheTests {
    @Test func setGetAcrossTypes() throws {
        let fixture = try makeCache()
        let cache = fixture.cache
        try cache.set("bytes", [1, 2, 3] as [UInt8])
        try cache.set("text", "hello")
        try cache.set("int", 42)
        try cache.set("double", 2.5)
        try cache.set("report", Report(id: 7, title: "Q3", scores: [1, 2.5]))
        try cache.set(17, "integer key")
        try cache.set([0xFF, 0x00] as [UInt8], "bytes key")
        try cache.set(CodableKey(["b": 2, "a": 1]), "codable key")

        #expect(try cache.get("bytes") == [1, 2, 3] as [UInt8])
        #expect(try cache.get("text", as: String.self) == "hello")
        #expect(try cache.get("int", as: Int.self) == 42)
        #expect(try cache.get("double", as: Double.self) == 2.5)
        #expect(try cache.get("report", as: Report.self) == Report(id: 7, title: "Q3", scores: [1, 2.5]))
        #expect(try cache.get(17, as: String.self) == "integer key")
        #expect(try cache.get("17", as: String.self) == nil, "integer and string keys are distinct")
        #expect(try cache.get([0xFF, 0x00] as [UInt8], as: String.self) == "bytes key")
        // The canonical encoding sorts object keys: insertion order of the dictionary is irrelevant.
        #expect(try cache.get(CodableKey(["a": 1, "b": 2]), as: String.self) == "codable key")
        #expect(try cache.get("missing", default: "fallback") == "fallback")
    }

    /// Optionals of natively stored types read back as what was stored: a present one is stored as
    /// the wrapped value itself (and used to be refused as a type mismatch when read as the optional).
    @Test func optionalsOfNativeTypesRoundTrip() throws {
        let fixture = try makeCache()
        let cache = fixture.cache
        try cache.set("int", Optional(5))
        try cache.set("text", Optional("hi"))
        try cache.set("double", Optional(2.5))
        try cache.set("bytes", Optional([7, 8] as [UInt8]))
        try cache.set("none", Optional<Int>.none)
        #expect(try cache.get("int", as: Int?.self) == .some(5))
        #expect(try cache.get("int", as: Int.self) == 5, "the stored form is the integer, as before")
        #expect(try cache.get("text", as: String?.self) == .some("hi"))
        #expect(try cache.get("double", as: Double?.self) == .some(2.5))
        #expect(try cache.get("bytes", as: [UInt8]?.self) == .some([7, 8]))
        #expect(try cache.get("none", as: Int?.self) == .some(nil))
        #expect(try cache.get("missing", as: Int?.self) == nil)
        // Still a mismatch when the wrapped type is not what is stored.
        #expect { try cache.get("text", as: Int?.self) } throws: { ($0 as? CaskError)?.code == .typeMismatch }
        #expect { try cache.get("int", as: String?.self) } throws: { ($0 as? CaskError)?.code == .typeMismatch }
    }

    @Test func typeMismatchIsAnError() throws {
        let fixture = try makeCache()
        let cache = fixture.cache
        try cache.set("text", "hello")
        #expect { try cache.get("text", as: Int.self) } throws: { ($0 as? CaskError)?.code == .typeMismatch }
        #expect { try cache.get("text", as: Report.self) } throws: { ($0 as? CaskError)?.code == .typeMismatch }
        #expect { try cache.incr("text") } throws: { ($0 as? CaskError)?.code == .typeMismatch }
    }

    @Test func expiryFollowsTheClock() throws {
        let fixture = try makeCache()
        let (cache, clock) = (fixture.cache, fixture.clock)
        try cache.set("k", "v", expire: 10)
        let e = try #require(try cache.entry("k", as: String.self))
        #expect(e.expireTime == clock.now + 10)
        clock.advance(by: 9.9)
        #expect(try cache.get("k", as: String.self) == "v")
        clock.advance(by: 0.1)
        #expect(try cache.get("k", as: String.self) == nil)
        #expect(try !cache.contains("k"))
        #expect(try !cache.delete("k"), "deleting an expired key reports it absent")
        try cache.set("t", 1, expire: .after(.seconds(5)))
        #expect(try cache.touch("t", expire: 100))
        clock.advance(by: 50)
        #expect(try cache.get("t", as: Int.self) == 1)
        #expect(try cache.touch("t", expire: nil))
        clock.advance(by: 1_000_000)
        #expect(try cache.get("t", as: Int.self) == 1)
        #expect(try !cache.touch("absent", expire: 1))
    }

    @Test func addOnlyWhenAbsentOrExpired() throws {
        let fixture = try makeCache()
        let (cache, clock) = (fixture.cache, fixture.clock)
        #expect(try cache.add("k", "first", expire: 5))
        #expect(try !cache.add("k", "second"))
        #expect(try cache.get("k", as: String.self) == "first")
        clock.advance(by: 6)
        #expect(try cache.add("k", "third"))
        #expect(try cache.get("k", as: String.self) == "third")
    }

    @Test func popIsAtomicAcrossThreads() throws {
        let fixture = try makeCache()
        let cache = fixture.cache
        for i in 0..<200 { try cache.set("k\(i)", i) }
        let winners = Winners()
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for i in 0..<200 {
                if let v = try! cache.pop("k\(i)", as: Int.self) { winners.add(v) }
            }
        }
        #expect(winners.values.sorted() == Array(0..<200))
        #expect(try cache.count == 0)
    }

    @Test func incrAndDecr() throws {
        let fixture = try makeCache()
        let (cache, clock) = (fixture.cache, fixture.clock)
        #expect(try cache.incr("n") == 1)
        #expect(try cache.incr("n", by: 10) == 11)
        #expect(try cache.decr("n", by: 3) == 8)
        #expect(try cache.incr("fresh", by: 5, default: 100) == 105)
        #expect { try cache.incr("nope", default: nil) } throws: { ($0 as? CaskError)?.code == .notFound }
        try cache.set("exp", 50, expire: 1, tag: "t")
        #expect(try cache.incr("exp") == 51)
        let e = try #require(try cache.entry("exp", as: Int.self))
        #expect(e.tag == "t", "incr keeps the tag")
        #expect(e.expireTime != nil, "incr keeps the expiry")
        clock.advance(by: 2)
        #expect(try cache.incr("exp") == 1, "incr on an expired key starts from the default")
        try cache.set("max", Int64.max)
        #expect { try cache.incr("max") } throws: { ($0 as? CaskError)?.code == .invalidArgument }
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<250 { try! cache.incr("shared") }
        }
        #expect(try cache.get("shared", as: Int.self) == 1000)
    }

    @Test func tagsAndEvictByTag() throws {
        for index in [false, true] {
            let fixture = try makeCache(CacheSettings(tagIndex: index))
        let cache = fixture.cache
            for i in 0..<50 { try cache.set("a\(i)", i, tag: "alpha") }
            for i in 0..<30 { try cache.set("b\(i)", i, tag: "beta") }
            try cache.set("a3", 3, tag: "beta")  // retagged
            #expect(try cache.evict(tag: "alpha") == 49)
            #expect(try cache.count == 31)
            #expect(try cache.keys(tag: "beta").count == 31)
            #expect(try cache.evict(tag: "nothing") == 0)
            #expect(try cache.store.checkInvariants() == nil)
        }
    }

    @Test func expireRemovesExpiredAndCounts() throws {
        let fixture = try makeCache()
        let (cache, clock) = (fixture.cache, fixture.clock)
        for i in 0..<20 { try cache.set("e\(i)", i, expire: Expiry(seconds: Double(i + 1))) }
        for i in 0..<5 { try cache.set("keep\(i)", i) }
        clock.advance(by: 10.5)
        #expect(try cache.expire() == 10)
        #expect(try cache.count == 15)
        #expect(try cache.stats().expirations == 10)
    }

    @Test func statisticsCountHitsAndMisses() throws {
        let fixture = try makeCache(CacheSettings(statistics: true))
        let cache = fixture.cache
        try cache.set("a", 1)
        _ = try cache.get("a", as: Int.self)
        _ = try cache.get("a", as: Int.self)
        _ = try cache.get("b", as: Int.self)
        let s = try cache.stats()
        #expect(s.hits == 2 && s.misses == 1)
        #expect(s.count == 1)
        cache.resetStats()
        #expect(try cache.stats().hits == 0)
    }

    /// On the system clock the cache leaves the time of a read to the engine (which reads it only
    /// for an entry that can expire); expiry still holds for every kind of read.
    @Test func onTheSystemClockReadsStillExpire() throws {
        let dir = TempDir()
        let cache = try Cache(directory: dir.path, settings: CacheSettings(shards: 1))
        defer { try? cache.close() }
        try cache.set("short", [1] as [UInt8], expire: Expiry(seconds: 0.01))
        try cache.set("long", [2] as [UInt8], expire: Expiry(seconds: 3600))
        try cache.set("typed", "x", expire: Expiry(seconds: 0.01))
        usleep(30_000)
        #expect(try cache.get("short") == nil)
        #expect(try cache.get("typed", as: String.self) == nil)
        #expect(try !cache.contains("short"))
        #expect(try cache.get("long") == [2] as [UInt8])
        #expect(try cache.contains("long"))
    }

    /// A bytes get of a value stored another way (compressed here) reads it by the general path;
    /// it counts as one hit, not one per path it took.
    @Test func aBytesGetOfACompressedValueCountsOneHit() throws {
        let fixture = try makeCache(CacheSettings(statistics: true, compressionLevel: 6, compressionMinSize: 16))
        let cache = fixture.cache
        let value = [UInt8](repeating: 7, count: 4096)
        try cache.set("z", value)
        try cache.set("plain", [1, 2, 3])
        #expect(try cache.get("z") == value)
        #expect(try cache.get("plain") == [1, 2, 3])
        #expect(try cache.get("absent") == nil)
        let s = try cache.stats()
        #expect(s.hits == 2 && s.misses == 1)
    }

    @Test func settingsArePersistedAndOverridden() throws {
        let dir = TempDir()
        do {
            let fixture = try makeCache(CacheSettings(shards: 3, sizeLimit: 1 << 20, evictionPolicy: .leastRecentlyUsed), dir: dir)
        let c = fixture.cache
            try c.close()
        }
        let reopened = try Cache(directory: dir.path)
        #expect(reopened.configuration.shards == 3)
        #expect(reopened.configuration.sizeLimit == 1 << 20)
        #expect(reopened.configuration.evictionPolicy == .leastRecentlyUsed)
        try reopened.close()
        let overridden = try Cache(directory: dir.path, settings: CacheSettings(shards: 9, cullLimit: 3))
        #expect(overridden.configuration.shards == 3, "the shard count of an existing cache is kept")
        #expect(overridden.configuration.cullLimit == 3)
        #expect(overridden.configuration.evictionPolicy == .leastRecentlyUsed)
        #expect(throws: CaskError.self) { try Cache(directory: dir.path, settings: CacheSettings(compressionLevel: 12)) }
    }

    @Test func temporaryCacheIsRemovedOnClose() throws {
        let cache = try Cache()
        try cache.set("k", "v")
        let dir = cache.directory
        #expect(FileManager.default.fileExists(atPath: dir))
        try cache.close()
        #expect(!FileManager.default.fileExists(atPath: dir))
        #expect { try cache.get("k") } throws: { ($0 as? CaskError)?.code == .closed }
    }

    @Test func largeValuesLiveInFilesAndAreCleanedUp() throws {
        let fixture = try makeCache(CacheSettings(minFileSize: 1024))
        let (cache, dir) = (fixture.cache, fixture.dir)
        let big = (0..<100_000).map { UInt8($0 % 251) }
        try cache.set("big", big)
        #expect(try cache.get("big") == big)
        func valueFiles() -> [String] {
            (FileManager.default.enumerator(atPath: dir.path + "/values")?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".val") }
        }
        #expect(valueFiles().count == 1)
        try cache.set("big", big.reversed())
        #expect(valueFiles().count == 1, "the replaced value file is removed")
        #expect(try cache.get("big") == big.reversed())
        #expect(try cache.pop("big") == big.reversed())
        #expect(valueFiles().isEmpty)
        try cache.set("a", big)
        try cache.set("b", big, tag: "t")
        #expect(try cache.stats().shards.reduce(0) { $0 + $1.valueFileBytes } == 200_000)
        #expect(try cache.evict(tag: "t") == 1)
        #expect(try cache.clear() == 1)
        #expect(valueFiles().isEmpty)
    }

    /// A bytes set keeps its tag and expiry whichever way the value is stored: inline (the path
    /// that hands the caller's memory to the engine), compressed, or in a value file.
    @Test func bytesKeepTheirTagAndExpiryOnEveryPath() throws {
        let fixture = try makeCache(CacheSettings(minFileSize: 8192, compressionLevel: 6, compressionMinSize: 1024))
        let (cache, clock) = (fixture.cache, fixture.clock)
        let values: [String: [UInt8]] = [
            "inline": [1, 2, 3],
            "compressed": [UInt8](repeating: 9, count: 2048),
            "file": (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) },
        ]
        for (key, value) in values {
            try cache.set(key, value, expire: 60, tag: "t-\(key)")
            try cache.set(key + "-untagged", value)
        }
        for (key, value) in values {
            let entry = try #require(try cache.entry(key, as: [UInt8].self))
            #expect(entry.value == value && entry.tag == "t-\(key)", "\(key)")
            #expect(entry.expireTime.map { abs($0 - (1_767_258_000 + 60)) < 0.001 } == true, "\(key)")
            #expect(try cache.entry(key + "-untagged", as: [UInt8].self)?.tag == nil, "\(key)")
        }
        #expect(try cache.evict(tag: "t-inline") == 1)
        #expect(try cache.get("inline") == nil)
        clock.advance(by: 61)
        #expect(try cache.get("compressed") == nil && cache.get("file") == nil)
        #expect(try cache.get("inline-untagged") == values["inline"])
    }

    @Test func compressionIsTransparent() throws {
        let fixture = try makeCache(CacheSettings(compressionLevel: 6, compressionMinSize: 64))
        let cache = fixture.cache
        let text = String(repeating: "compressible text ", count: 500)
        try cache.set("t", text)
        #expect(try cache.get("t", as: String.self) == text)
        let s = try cache.stats()
        #expect(s.shards.reduce(0) { $0 + $1.liveBytes } < text.utf8.count / 4)
        let random = (0..<5000).map { _ in UInt8.random(in: 0...255) }
        try cache.set("r", random)  // incompressible: stored as is
        #expect(try cache.get("r") == random)
    }

    @Test func bulkOperations() throws {
        let fixture = try makeCache()
        let cache = fixture.cache
        try cache.set(many: (0..<100).map { ("k\($0)", $0) })
        let got = try cache.get(many: ["k1", "k50", "nope", "k99"], as: Int.self)
        #expect(got == [1, 50, nil, 99])
        #expect(try cache.delete(many: ["k1", "k2", "nope"]) == 2)
        #expect(try cache.count == 98)
    }

    @Test func iterationFollowsStoreOrder() throws {
        let fixture = try makeCache()
        let (cache, clock) = (fixture.cache, fixture.clock)
        for i in 0..<20 {
            try cache.set("k\(i)", i)
            clock.advance(by: 0.001)
        }
        try cache.set("k5", 55)  // moves to the end
        let keys = try cache.keys().map(\.description)
        #expect(keys == (0..<20).filter { $0 != 5 }.map { "k\($0)" } + ["k5"])
        #expect(try cache.keys(reversed: true).first?.description == "k5")
        let last = try #require(try cache.peekItem())
        #expect(last.key == .string("k5"))
        #expect(try cache.peekItem(last: false)?.key == .string("k0"))
    }

    @Test func queues() throws {
        let fixture = try makeCache()
        let cache = fixture.cache
        for i in 0..<5 { try cache.push(i) }
        try cache.push(-1, side: .front)
        #expect(try cache.pull(as: Int.self)?.value == -1)
        #expect(try cache.pull(side: .back, as: Int.self)?.value == 4)
        #expect(try cache.peek(as: Int.self)?.value == 0)
        let k = try cache.push("job", prefix: "jobs")
        #expect(k.description == "jobs-500000000000000")
        #expect(try cache.pull(prefix: "jobs", as: String.self)?.value == "job")
        #expect(try cache.pull(prefix: "jobs", as: String.self) == nil)
        var rest: [Int] = []
        while let item = try cache.pull(as: Int.self) { rest.append(item.value) }
        #expect(rest == [0, 1, 2, 3])
    }

    @Test func transactionsApplyTogetherOrNotAtAll() throws {
        let fixture = try makeCache()
        let cache = fixture.cache
        try cache.set("a", 1)
        try cache.transact { tx in
            let a = try tx.get("a", as: Int.self)!
            try tx.set("a", a + 1)
            try tx.set("b", a * 10)
            #expect(try tx.get("a", as: Int.self) == 2, "reads see the transaction's writes")
        }
        #expect(try cache.get("a", as: Int.self) == 2)
        #expect(try cache.get("b", as: Int.self) == 10)
        struct Abort: Error {}
        #expect(throws: Abort.self) {
            try cache.transact { tx in
                try tx.set("a", 100)
                try tx.delete("b")
                throw Abort()
            }
        }
        #expect(try cache.get("a", as: Int.self) == 2)
        #expect(try cache.get("b", as: Int.self) == 10)
        // Concurrent transactional increments never lose an update.
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<100 { _ = try! cache.transact { tx in try tx.incr("counter") } }
        }
        #expect(try cache.get("counter", as: Int.self) == 400)
    }

    /// Design.md promises: files 0600 in a 0700 directory.
    @Test func filesArePrivateToTheOwner() throws {
        let dir = TempDir()
        let cache = try Cache(directory: dir.sub("private"), settings: CacheSettings(shards: 1, minFileSize: 64))
        try cache.set("small", "x")
        try cache.set("big", [UInt8](repeating: 1, count: 1000))
        func mode(_ path: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
        }
        #expect(try mode(dir.sub("private")) == 0o700)
        for file in ["cask.meta", "cask.settings", "shard-000/MANIFEST", "shard-000/00000001.log", "shard-000/lock"] {
            #expect(try mode(dir.sub("private/" + file)) == 0o600, "\(file)")
        }
        let values = (FileManager.default.enumerator(atPath: dir.sub("private/values"))?.allObjects as? [String] ?? [])
            .filter { $0.hasSuffix(".val") }
        #expect(values.count == 1)
        for v in values { #expect(try mode(dir.sub("private/values/" + v)) == 0o600) }
    }

    @Test func closedCacheThrows() throws {
        let fixture = try makeCache()
        let cache = fixture.cache
        try cache.close()
        #expect { try cache.set("k", "v") } throws: { ($0 as? CaskError)?.code == .closed }
    }

    @Test func notADirectoryOrForeignDirectory() throws {
        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: dir.path + "/x.txt", contents: Data("x".utf8))
        #expect { try Cache(directory: dir.path) } throws: { ($0 as? CaskError)?.code == .notACache }
        #expect { try Cache(directory: dir.path + "/x.txt") } throws: { $0 is CaskError }
    }
}

final class Winners: @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    private let lock = NSLock()
    private var items: [Int] = []
    func add(_ v: Int) { lock.withLock { items.append(v) } }
    var values: [Int] { lock.withLock { items } }
}
