// README.md, "Sharing across machines (Redis, S3)": built only with CaskRemote (see CASK_WITHOUT_REMOTE in Package.swift).
#if canImport(CaskRemote)
import Cask
import CaskRemote

/// README, "Sharing across machines (Redis, S3)".
func readmeSharedTier() throws {
    let local = try Cache(directory: "/var/cache/reports")
    let tier = try RedisTier(url: "redis://:secret@cache.internal:6379")   // timeout: 50 ms by default
    // A cluster: any of its nodes; the client learns the others and follows MOVED/ASK redirects.
    // let tier = try RedisTier(url: "redis-cluster://:secret@10.0.0.5:7000,10.0.0.6:7000")
    let shared = SharedCache(cache: local, tier: tier)

    try shared.set("q4-totals", [12, 40, 7], expire: 3600, tag: "reports")
    let totals = try shared.get("q4-totals", as: [Int].self)   // local first, then Redis
    try shared.delete("q4-totals")                            // here and in Redis
    print(totals ?? [], shared.statistics.hits, shared.statistics.errors)

    // While `shared` lives, the cache's memoized functions go through Redis too: a result computed on
    // one machine is a hit on the others, and of machines missing one call at once, one computes.
    let summary = local.memoize(name: "q4-summary", expire: 3600) { (region: String) in region.uppercased() }
    print(try summary("emea"))
}
#endif
