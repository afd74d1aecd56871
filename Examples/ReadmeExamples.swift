import Cask
import CaskStore
import Foundation

// README.md, in the order of its sections. "Using the cache" is an async function on purpose: the
// cache's fast calls must compile there without `await`, as in a server's request handler.

/// README, "Using the cache".
func readmeUsingTheCache() async throws {
    let cache = try Cache(directory: "/var/tmp/reports-cache")      // created (0700) if missing

    // Values: bytes, strings, integers, doubles natively; any Codable through JSON.
    struct Report: Codable { var id: Int; var title: String }
    try cache.set("report:42", Report(id: 42, title: "Q3"), expire: .after(.seconds(3600)), tag: "reports")
    let report: Report? = try cache.get("report:42")
    let title = try cache.get("missing", default: "none")

    // Atomic operations, across threads and processes.
    try cache.add("lock:report-42", "worker-3")      // only if absent or expired
    let n = try cache.incr("visits")                 // Int64 counter
    let last = try cache.pop("report:42", as: Report.self)
    try cache.touch("visits", expire: 60)

    // Bulk operations take each shard's lock once.
    try cache.set(many: [("a", 1), ("b", 2)])
    let values = try cache.get(many: ["a", "b", "c"], as: Int.self)   // [1, 2, nil]

    // Several operations as one: isolated, applied together or not at all. Inside the body the
    // cache's own operations join the transaction (`cache.incr` there is `tx.incr`).
    try cache.transact { tx in
        let balance = try tx.get("balance", as: Int.self) ?? 0
        try tx.set("balance", balance - 10)
        try cache.incr("transfers")
    }

    // Queues, as diskcache's push/pull.
    try cache.push("job-1", prefix: "jobs")
    let job = try cache.pull(prefix: "jobs", as: String.self)

    // Expiry, tags, eviction, statistics, repair.
    try cache.expire()                       // remove what has expired
    try cache.evict(tag: "reports")          // remove a tag's entries
    try cache.cull()                         // enforce the size limit now
    let stats = try cache.stats()            // hits, misses, evictions, expirations, sizes per shard
    let health = try cache.check(fix: true)  // verify records, index and value files; repair

    // Large values live in their own files and stream in and out.
    try cache.set("dataset", contentsOfFile: "/tmp/download.bin")
    let head = try cache.openValue("dataset")?.read(upToCount: 1024)   // a reader, piece by piece
    keep(report, title, n, last, values, job, stats, health, head)
}

/// README, "Memoize".
func readmeMemoize() async throws {
    let cache = try Cache(directory: "/var/tmp/reports-cache")
    let paris = TimeZone(identifier: "Europe/Paris")!

    // A daily cache: computed at 09:00, served all day (15:00: a hit), recomputed the next morning.
    let dailyReport = cache.memoize(name: "daily-report", version: "1",
                                    validity: [.calendarPeriod(.day, in: paris)]) { (region: String) in
        try buildReport(region)                     // any Codable result
    }
    let report = try dailyReport("emea")

    // Async functions, stampede protection across processes, early recomputation before expiry.
    let load = cache.memoize(name: "load-customer", version: "2", expire: 3600,
                             stampede: StampedeProtection(crossProcessLock: true, serveStale: true,
                                                          earlyRecomputationBeta: 1)) { (id: Int) async throws -> Customer in
        try await api.customer(id)
    }
    let customer = try await load(42)

    // Valid while the inputs are unchanged; a key made of only some of the arguments.
    let parse = cache.memoize(name: "parse", validity: [.sourceFiles(["data/input.csv"], contentHash: true)],
                              keyedBy: { (job: ParseJob) in job.path }) { job in try parseCSV(job) }

    let stored = try load.isCached(42)          // a valid result is stored
    let fresh = try await load.recompute(42)    // run it now regardless
    let key = try load.key(for: 42)             // the canonical key: j{"fn":"load-customer","v":"2","x":42}
    try load.clear()                            // remove this function's results, all versions
    keep(report, customer, parse, stored, fresh, key)
}

/// README, "Memoize": the collections and recipes.
func readmeCollectionsAndRecipes(cache: Cache) throws {
    let jobs = try PersistentDeque<Job>(directory: "/var/tmp/jobs", maxLength: 10_000)  // append/prepend/popFirst/popLast
    let index = try PersistentIndex<String, Int>(directory: "/var/tmp/index")           // ordered, never evicts
    try index.updateValue(3, forKey: "retries"); let r = try index["retries"]

    try Lock(cache: cache, name: "import").withLock { try importAll() }           // flock, not a spin
    try RLock(cache: cache, name: "tree").withLock { try RLock(cache: cache, name: "tree").withLock { } }
    try BoundedSemaphore(cache: cache, name: "gpu", limit: 2).withPermit { try train() }
    let geocode = try cache.throttle(name: "geocoder", count: 10, per: .seconds(1)) { (a: String) in try lookUp(a) }
    let migrate = try cache.barrier(name: "migrate") { (v: Int) in try runMigration(v) }  // one process at a time
    try Averager(cache: cache, key: "latency-ms").add(12.5)
    keep(jobs, r, geocode, migrate)
}

/// README, "Using the engine directly".
func readmeEngine() throws {
    let store = try Store(directory: "/tmp/my-store")
    try store.put(Array("user:42".utf8), Array("{}".utf8), expireTime: wallClockMicros() + 3_600_000_000)
    let value = try store.get(Array("user:42".utf8))
    let visits = try store.mutate(Array("visits".utf8)) { current -> (Mutation, Int) in
        let n = current.map { Int(String(decoding: $0.value, as: UTF8.self)) ?? 0 } ?? 0
        return (.put(value: Array(String(n + 1).utf8)), n + 1)
    }
    keep(value, visits)
}
