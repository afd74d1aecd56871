import Cask
import Foundation

// The DocC articles of Sources/Cask/Cask.docc.

/// GettingStarted.md, "Open a cache".
func gettingStartedOpen() throws -> Cache {
    let cache = try Cache(directory: "/var/tmp/my-app-cache",
                          settings: CacheSettings(sizeLimit: 512 << 20, evictionPolicy: .leastRecentlyUsed))
    return cache
}

/// GettingStarted.md, "Store and read".
func gettingStartedStoreAndRead(cache: Cache) throws {
    struct Forecast: Codable { var city: String; var highs: [Double] }

    try cache.set("forecast:paris", Forecast(city: "Paris", highs: [21, 23]), expire: .after(.seconds(3600)))
    let forecast: Forecast? = try cache.get("forecast:paris")

    try cache.set("raw", [0x01, 0x02] as [UInt8])      // bytes, strings, integers, doubles: stored natively
    let visits = try cache.incr("visits")               // atomic across processes
    let added = try cache.add("lock:report", "worker-3") // only if absent
    keep(forecast, visits, added)
}

/// GettingStarted.md, "Expire, tag, evict".
func gettingStartedExpire(cache: Cache, html: String) throws {
    try cache.set("page:/home", html, expire: 60, tag: "pages")
    try cache.evict(tag: "pages")   // removes every entry tagged "pages"
    try cache.expire()              // removes what has expired now
    let stats = try cache.stats()   // hits, misses, evictions, expirations, sizes per shard
    keep(stats)
}

/// GettingStarted.md, "Large values".
func gettingStartedLargeValues(cache: Cache) async throws {
    try cache.set("dataset", contentsOfFile: "/tmp/download.bin")
    if let reader = try cache.openValue("dataset") {
        for try await chunk in reader.chunks() { consume(chunk) }
    }
}

/// GettingStarted.md, "Several operations at once".
func gettingStartedTransaction(cache: Cache) throws {
    try cache.transact { tx in
        let balance = try tx.get("balance", as: Int.self) ?? 0
        try tx.set("balance", balance - 10)
        try tx.set("last-debit", 10)
    }
}

/// ChoosingAValidityPolicy.md, the overview.
func validityOverview(cache: Cache) throws {
    let utc = TimeZone(identifier: "UTC")!
    let report = cache.memoize(name: "daily-report", version: "3",
                               validity: [.calendarPeriod(.day, in: utc), .sourceFiles(["/etc/report.conf"])]) {
        (region: String) in try buildReport(region)
    }
    keep(report)
}

/// ChoosingAValidityPolicy.md, "Custom rules".
func validityCustom(cache: Cache) throws {
    let quote = cache.memoize(name: "quote", validity: [.custom { $0.hits < 100 }], trackAccess: true) {
        (symbol: String) async throws in try await fetchQuote(symbol)
    }
    keep(quote)
}

/// ChoosingAValidityPolicy.md, "Rules of your own".
func validityOwnRule(cache: Cache) throws {
    struct SchemaVersion: ValidityRule {
        let current: @Sendable () -> Int
        var witnessName: String { "schema-version" }
        func witness(_ context: ValidityContext) throws -> [UInt8]? { Array(String(current()).utf8) }
        func isValid(witness: [UInt8]?, _ context: ValidityContext) throws -> Bool {
            witness == Array(String(current()).utf8)
        }
    }
    let rows = cache.memoize(name: "rows", validity: [ValidityPolicy(SchemaVersion(current: { schemaVersion() }))]) {
        (table: String) in try loadRows(table)
    }
    keep(rows)
}
