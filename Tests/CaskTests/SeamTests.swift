// Regression tests for the defects at the seam between the engine and the typed cache: value
// files, multi-record writes, transactions, culling on every write path, queues and counting.
import CaskTestSupport
import Foundation
import Synchronization
import Testing
@testable import Cask

/// Value files under `<dir>/values/xx/`.
func valueFileCount(_ dir: String) -> Int {
    let root = dir + "/values"
    let fanOut = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
    return fanOut.filter { $0.count == 2 }.reduce(0) { n, sub in
        n + ((try? FileManager.default.contentsOfDirectory(atPath: root + "/" + sub)) ?? []).filter { $0.hasSuffix(".val") }.count
    }
}

func bigValue(_ seed: UInt8, _ size: Int = 40_000) -> [UInt8] { [UInt8](repeating: seed, count: size) }

@Suite("Seam defects")
struct SeamTests {
    /// Defect 2: with `interval` durability, a replaced value's file stays until the record that
    /// replaced it is durable.
    @Test func intervalKeepsTheReplacedFileUntilTheReplacementIsDurable() throws {
        let f = try makeCache(CacheSettings(durability: .interval(.seconds(3600))))
        try f.cache.set("k", bigValue(1))
        try f.cache.store.sync()
        try f.cache.set("k", bigValue(2))
        // The durable log still names the first file: it must survive a power cut now.
        #expect(valueFileCount(f.dir.path) == 2)
        try f.cache.store.sync()
        #expect(valueFileCount(f.dir.path) == 1)
        #expect(try f.cache.get("k") == bigValue(2))
        try f.cache.delete("k")
        #expect(valueFileCount(f.dir.path) == 1)
        try f.cache.close()
        #expect(valueFileCount(f.dir.path) == 0)
    }

    /// Value files written inside a transaction belong to its records once it commits, and are
    /// removed when it throws.
    @Test func transactionsWriteValueFiles() throws {
        let f = try makeCache()
        try f.cache.transact { tx in
            try tx.set("a", bigValue(1))
            try tx.set("b", bigValue(2))
            try tx.set("b", bigValue(3))  // the first file for b is never written
        }
        #expect(try f.cache.get("a") == bigValue(1))
        #expect(try f.cache.get("b") == bigValue(3))
        #expect(valueFileCount(f.dir.path) == 2)
        struct Abort: Error {}
        #expect(throws: Abort.self) { try f.cache.transact { tx in try tx.set("c", bigValue(4)); throw Abort() } }
        #expect(valueFileCount(f.dir.path) == 2)
        #expect(try f.cache.get("c") == nil)
    }

    /// Defect 4: pop decodes before it deletes; a failed decode leaves the entry.
    @Test func popThatCannotDecodeKeepsTheEntry() throws {
        let f = try makeCache()
        try f.cache.set("small", "text")
        try f.cache.set("large", String(repeating: "x", count: 40_000))
        for key in ["small", "large"] {
            #expect(throws: CaskError.self) { _ = try f.cache.pop(key, as: Int.self) }
            #expect(try f.cache.get(key, as: String.self) != nil, "\(key) was lost")
        }
        #expect(try f.cache.pop("large", as: String.self)?.count == 40_000)
        #expect(try f.cache.get("large", as: String.self) == nil)
        #expect(valueFileCount(f.dir.path) == 0)
    }

    /// Defect 4: a queue pull that cannot decode its item leaves the item and the queue as they were.
    @Test func pullThatCannotDecodeKeepsTheItem() throws {
        let f = try makeCache()
        try f.cache.push("small", prefix: "q")
        try f.cache.push(String(repeating: "y", count: 40_000), prefix: "q")
        #expect(throws: CaskError.self) { _ = try f.cache.pull(prefix: "q", as: Int.self) }
        #expect(try f.cache.pull(prefix: "q", as: String.self)?.value == "small")
        #expect(throws: CaskError.self) { _ = try f.cache.pull(prefix: "q", as: Int.self) }
        #expect(try f.cache.pull(prefix: "q", as: String.self)?.value.count == 40_000)
        #expect(try f.cache.count == 0)
    }

    /// Defect 10: readers racing overwrites of a value-file value see the old or the new value,
    /// never an error or an absence.
    @Test func readersRacingOverwritesSeeAValue() throws {
        let f = try makeCache()
        try f.cache.set("k", bigValue(0))
        let stop = Atomic(false)
        let writer = Thread {
            var i: UInt8 = 1
            while !stop.load(ordering: .relaxed) {
                try? f.cache.set("k", bigValue(i))
                i &+= 1
            }
        }
        writer.start()
        defer { stop.store(true, ordering: .relaxed) }
        var failures: [String] = []
        let deadline = Date().addingTimeInterval(3)
        var reads = 0
        while reads < 400 && Date() < deadline {
            reads += 1
            do {
                let v = try f.cache.get("k")
                if v == nil || Set(v!).count != 1 || v!.count != 40_000 { failures.append("get: \(String(describing: v?.count))") }
                let many = try f.cache.get(many: ["k", "k"])
                if many.contains(where: { $0 == nil }) { failures.append("get(many:) found nothing") }
                guard let reader = try f.cache.openValue("k") else { failures.append("openValue found nothing"); continue }
                if try reader.read(upToCount: 1 << 20).count != 40_000 { failures.append("openValue short") }
                if try f.cache.peekItem() == nil { failures.append("peekItem found nothing") }
                if try f.cache.storedValue("k") == nil { failures.append("storedValue found nothing") }
            } catch {
                failures.append("\(error)")
            }
        }
        stop.store(true, ordering: .relaxed)
        #expect(reads > 0)
        #expect(failures.isEmpty, "\(failures.count) failures in \(reads) rounds, first: \(failures.prefix(3))")
    }

    /// Defect 11: every write path enforces the size limit.
    @Test(arguments: ["add", "incr", "set(many:)", "push", "transact"])
    func everyWritePathEnforcesTheSizeLimit(path: String) throws {
        let f = try makeCache(CacheSettings(shards: 1, sizeLimit: 64 << 10))
        let kb = [UInt8](repeating: 7, count: 1000)
        for i in 0..<500 {
            switch path {
            case "add": try f.cache.add("k\(i)", kb)
            case "incr": try f.cache.set("pad\(i)", kb); try f.cache.incr("n\(i)")
            case "set(many:)": try f.cache.set(many: [("a\(i)", kb), ("b\(i)", kb)])
            case "push": try f.cache.push(kb, prefix: "q")
            default: try f.cache.transact { tx in try tx.set("t\(i)", kb) }
            }
        }
        let volume = try f.cache.stats().shards.reduce(0) { $0 + $1.liveBytes + $1.valueFileBytes }
        #expect(volume <= (64 << 10) + 4096, "\(path): \(volume) live bytes under a 64 KiB limit")
        #expect(try f.cache.stats().evictions > 0)
    }

    /// Defect 11: policy none never evicts, but writes still remove expired entries.
    @Test func policyNoneRemovesExpiredEntriesOnWrites() throws {
        let f = try makeCache(CacheSettings(shards: 1, evictionPolicy: EvictionPolicy.none))
        for i in 0..<50 { try f.cache.set("old\(i)", i, expire: 1) }
        f.clock.advance(by: 2)
        for i in 0..<200 { try f.cache.set("new\(i)", i) }
        #expect(try f.cache.stats().expirations >= 50)
        #expect(try f.cache.count == 200)
    }

    /// Defect 12: overwriting an expired value-file entry, in a transaction or by incr, removes
    /// the old file.
    @Test func overwritingAnExpiredValueFileEntryRemovesItsFile() throws {
        let f = try makeCache()
        try f.cache.set("a", bigValue(1), expire: 1)
        try f.cache.set("b", bigValue(2), expire: 1)
        f.clock.advance(by: 2)
        try f.cache.transact { tx in try tx.set("a", "small") }
        try f.cache.incr("b")
        #expect(valueFileCount(f.dir.path) == 0)
        #expect(try f.cache.get("a", as: String.self) == "small")
        #expect(try f.cache.get("b", as: Int64.self) == 1)
    }

    /// Defect 14: the cache used inside its own transaction joins it instead of hanging;
    /// operations that need every shard throw at once.
    @Test(.timeLimit(.minutes(1)))
    func cacheOperationsInsideTransactJoinIt() throws {
        let f = try makeCache()
        try f.cache.set("n", 5, expire: 3600, tag: "counters")
        let n = try f.cache.transact { tx -> Int64 in
            let a = try f.cache.incr("n")
            let b = try tx.incr("n")
            try f.cache.set("x", "y")
            #expect(try tx.get("x", as: String.self) == "y")
            #expect(throws: CaskError.self) { _ = try f.cache.count }
            #expect(a == 6)
            return b
        }
        #expect(n == 7)
        #expect(try f.cache.get("n", as: Int64.self) == 7)
        // The transaction's incr keeps the tag and the expiry, as the cache's does.
        let entry = try f.cache.entry("n", as: Int64.self)
        #expect(entry?.tag == "counters")
        #expect(entry?.expireTime != nil)
        // Nothing applies when the body throws, including the joined operations.
        struct Abort: Error {}
        #expect(throws: Abort.self) { try f.cache.transact { _ in try f.cache.set("z", 1); throw Abort() } }
        #expect(try f.cache.get("z", as: Int.self) == nil)
    }

    /// Defect 16: count and stats().count leave out the cache's bookkeeping records.
    @Test func countsLeaveOutBookkeepingRecords() throws {
        let f = try makeCache()
        for i in 0..<3 { try f.cache.push(i) }
        #expect(try f.cache.count == 3)
        #expect(try f.cache.stats().count == 3)
        _ = try f.cache.pull(as: Int.self)
        #expect(try f.cache.count == 2)
        try f.cache.close()
        let reopened = try Cache(directory: f.dir.path)
        #expect(try reopened.count == 2)
        #expect(try reopened.stats().count == 2)
    }

    /// Defect 17: cull() enforces the size limit when cullLimit is 0.
    @Test func cullWorksWithCullLimitZero() throws {
        let f = try makeCache(CacheSettings(shards: 1, sizeLimit: 16 << 10, cullLimit: 0))
        for i in 0..<100 { try f.cache.set("k\(i)", [UInt8](repeating: 1, count: 1000)) }
        #expect(try f.cache.count == 100)
        #expect(try f.cache.cull() > 0)
        let live = try f.cache.stats().shards.reduce(0) { $0 + $1.liveBytes }
        #expect(live <= 16 << 10)
    }

    /// Defect 18: queue reads delete the expired items they pass, counted as expirations.
    @Test func queuesDeleteExpiredItemsTheyPass() throws {
        let f = try makeCache()
        for i in 0..<3 { try f.cache.push(i, prefix: "q", expire: 1) }
        try f.cache.push(99, prefix: "q")
        f.clock.advance(by: 2)
        #expect(try f.cache.peek(prefix: "q", as: Int.self)?.value == 99)
        #expect(try f.cache.stats().expirations == 3)
        #expect(try f.cache.pull(prefix: "q", as: Int.self)?.value == 99)
        #expect(try f.cache.count == 0)
    }

    /// Issue "above the engine", defect 2: popping a deque item of 32 KiB or more returns it.
    @Test func dequePopsLargeItems() throws {
        let dir = TemporaryDirectory()
        let deque = try PersistentDeque<[UInt8]>(directory: dir.path)
        try deque.append(bigValue(3))
        try deque.append(bigValue(4))
        #expect(try deque.popFirst() == bigValue(3))
        #expect(try deque.popLast() == bigValue(4))
        #expect(valueFileCount(dir.path) == 0)
    }
}

/// Promises of Design.md ("Value files", "One implementation per operation") that no other test checks.
@Suite("Seam promises")
struct SeamPromiseTests {
    /// The same record found twice without its file is damage: `corrupted`, not an absence.
    @Test func aLostValueFileIsCorruptionNotAbsence() throws {
        let f = try makeCache()
        try f.cache.set("k", bigValue(5))
        let root = f.dir.path + "/values"
        for sub in try FileManager.default.contentsOfDirectory(atPath: root) where sub.count == 2 {
            for file in try FileManager.default.contentsOfDirectory(atPath: root + "/" + sub) {
                try FileManager.default.removeItem(atPath: root + "/" + sub + "/" + file)
            }
        }
        let error = #expect(throws: CaskError.self) { _ = try f.cache.get("k") }
        #expect(error?.code == .corrupted, "\(String(describing: error))")
        #expect(try f.cache.check().missingValueFiles.count == 1)
    }

    /// Inside a transaction, another handle on the same directory throws at once instead of
    /// waiting for the locks the transaction holds.
    @Test(.timeLimit(.minutes(1)))
    func anotherHandleInsideATransactionThrows() throws {
        let f = try makeCache()
        let other = try Cache(directory: f.dir.path)
        try f.cache.transact { _ in
            let error = #expect(throws: CaskError.self) { try other.set("x", 1) }
            #expect(error?.code == .invalidArgument)
        }
        try other.set("x", 1)
        #expect(try f.cache.get("x", as: Int.self) == 1)
    }
}
