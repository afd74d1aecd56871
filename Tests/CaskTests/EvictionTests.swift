import CaskTestSupport
import Foundation
import Testing
@testable import Cask

@Suite("Eviction")
struct EvictionTests {
    static let value = [UInt8](repeating: 7, count: 100)

    @Test func sizeLimitIsEnforcedOnWritesAndCounted() throws {
        let fixture = try makeCache(CacheSettings(shards: 1, sizeLimit: 20_000, cullLimit: 10))
        let cache = fixture.cache
        for i in 0..<1000 { try cache.set("k\(i)", Self.value) }
        let live = try cache.stats().shards[0].liveBytes
        #expect(live <= 20_000 + 200, "live bytes \(live) stay at the limit")
        let s = try cache.stats()
        #expect(s.evictions > 0)
        #expect(s.count + Int(s.evictions) == 1000, "every entry is either present or counted as evicted")
        // Least recently stored: the newest entries survive.
        #expect(try cache.get("k999") == Self.value)
        #expect(try cache.get("k0") == nil)
    }

    /// The size limit is the cache's, not each shard's: with 4 shards, writes keep every shard at
    /// its quarter, so the whole cache stays at the limit.
    @Test func theSizeLimitIsTheWholeCachesAcrossShards() throws {
        let fixture = try makeCache(CacheSettings(shards: 4, sizeLimit: 40_000, cullLimit: 10))
        let cache = fixture.cache
        for i in 0..<2000 { try cache.set("k\(i)", Self.value) }
        let shards = try cache.stats().shards
        for shard in shards { #expect(shard.liveBytes <= 10_000 + 200, "shard at \(shard.liveBytes) bytes, share 10,000") }
        let total = shards.reduce(0) { $0 + $1.liveBytes }
        #expect(total <= 40_000 + 4 * 200, "the cache holds \(total) live bytes under a 40,000-byte limit")
        #expect(try cache.stats().evictions > 0)
    }

    @Test func noneNeverEvicts() throws {
        let fixture = try makeCache(CacheSettings(shards: 1, sizeLimit: 5_000, evictionPolicy: EvictionPolicy.none))
        let cache = fixture.cache
        for i in 0..<200 { try cache.set("k\(i)", Self.value) }
        #expect(try cache.count == 200)
        #expect(try cache.cull() == 0)
    }

    @Test func cullOnDemandBringsEveryShardUnderTheLimit() throws {
        let dir = TempDir()
        do {
            let fixture = try makeCache(CacheSettings(shards: 2, sizeLimit: 1 << 30), dir: dir)
        let c = fixture.cache
            for i in 0..<500 { try c.set("k\(i)", Self.value) }
            try c.close()
        }
        let fixture = try makeCache(CacheSettings(sizeLimit: 20_000), dir: dir)
        let cache = fixture.cache
        let removed = try cache.cull()
        #expect(removed > 0)
        for shard in try cache.stats().shards { #expect(shard.liveBytes <= 10_000) }
    }

    @Test func recentlyReadEntriesSurviveUnderLRU() throws {
        let fixture = try makeCache(CacheSettings(shards: 1, sizeLimit: 30_000, evictionPolicy: .leastRecentlyUsed))
        let cache = fixture.cache
        for i in 0..<150 { try cache.set("k\(i)", Self.value) }
        // Keep reading the oldest ten while newer entries push the cache over its limit.
        for i in 150..<600 {
            for hot in 0..<10 { _ = try cache.get("k\(hot)") }
            try cache.set("k\(i)", Self.value)
        }
        for hot in 0..<10 { #expect(try cache.get("k\(hot)") == Self.value, "k\(hot) was read constantly") }
        #expect(try cache.get("k20") == nil)
    }

    /// Every entry was read, and a long stretch of dead records lies ahead of the hand: a write
    /// over the limit still evicts (the walk goes past its step budget until it has a victim).
    @Test(arguments: [EvictionPolicy.leastRecentlyUsed, .leastFrequentlyUsed, .scanResistant])
    func theSizeLimitHoldsWhenTheWalkMustGoFar(policy: EvictionPolicy) throws {
        let probe = try makeCache(CacheSettings(shards: 1))
        try probe.cache.set("k0000", Self.value)
        let record = try probe.cache.stats().shards[0].liveBytes
        let fixture = try makeCache(CacheSettings(shards: 1, sizeLimit: 100 * record, cullLimit: 1, evictionPolicy: policy))
        let cache = fixture.cache
        for i in 0..<100 { try cache.set(String(format: "k%04d", i), Self.value) }
        // 3,000 dead records after the entries (one key overwritten, then deleted).
        for _ in 0..<3000 { try cache.set("dead", Self.value) }
        #expect(try cache.delete("dead"))
        for i in 100..<400 {
            for k in 0..<100 { _ = try cache.get(String(format: "k%04d", k)) }
            try cache.set(String(format: "k%04d", i), Self.value)
            let count = try cache.count
            try #require(count <= 100, "\(count) entries after write \(i), for a limit of 100")
        }
    }

    @Test func frequentlyReadEntriesSurviveUnderLFU() throws {
        let fixture = try makeCache(CacheSettings(shards: 1, sizeLimit: 30_000, evictionPolicy: .leastFrequentlyUsed))
        let cache = fixture.cache
        for i in 0..<10 { try cache.set("hot\(i)", Self.value) }
        for _ in 0..<50 { for i in 0..<10 { _ = try cache.get("hot\(i)") } }
        for i in 0..<600 { try cache.set("cold\(i)", Self.value) }
        var surviving = 0
        for i in 0..<10 where try cache.get("hot\(i)") != nil { surviving += 1 }
        #expect(surviving >= 8, "\(surviving) of 10 hot entries survived")
    }

    /// A skewed (Zipf, s = 1) trace over 5,000 keys with room for about 250 entries: recency and
    /// frequency must beat store order. Prints the three hit ratios.
    @Test func hitRatiosOnAZipfTrace() throws {
        var ratios: [EvictionPolicy: Double] = [:]
        let keys = 5000
        var weights = (1...keys).map { 1.0 / Double($0) }
        let total = weights.reduce(0, +)
        var cumulative = 0.0
        for i in weights.indices {
            cumulative += weights[i] / total
            weights[i] = cumulative
        }
        var rng = SplitMix(seed: 42)
        let trace = (0..<30_000).map { _ -> Int in
            let u = Double(rng.next() >> 11) / Double(1 << 53)
            var lo = 0, hi = keys - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if weights[mid] < u { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
        for policy in [EvictionPolicy.leastRecentlyStored, .leastRecentlyUsed, .leastFrequentlyUsed] {
            let fixture = try makeCache(CacheSettings(shards: 1, sizeLimit: 250 * 152, cullLimit: 4, evictionPolicy: policy))
        let cache = fixture.cache
            var hits = 0
            for k in trace {
                if try cache.get(k) != nil {
                    hits += 1
                } else {
                    try cache.set(k, Self.value)
                }
            }
            ratios[policy] = Double(hits) / Double(trace.count)
        }
        print("hit ratios (Zipf s=1, 5000 keys, ~250 entries):",
              "least-recently-stored \(ratios[.leastRecentlyStored]!)",
              "least-recently-used \(ratios[.leastRecentlyUsed]!)",
              "least-frequently-used \(ratios[.leastFrequentlyUsed]!)")
        #expect(ratios[.leastRecentlyUsed]! > ratios[.leastRecentlyStored]! + 0.02)
        #expect(ratios[.leastFrequentlyUsed]! > ratios[.leastRecentlyStored]! + 0.02)
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
