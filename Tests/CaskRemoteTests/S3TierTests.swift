import Cask
import CaskTestSupport
import Foundation
import Synchronization
import Testing
@testable import CaskRemote

/// The shared tier on SeaweedFS's S3 gateway. In the S3 suite, which runs its tests one at a time:
/// one `weed` server at a time on the machine.
extension S3FetchTests {
    func s3Tier(_ server: SeaweedServer, prefix: String) -> S3Tier {
        S3Tier(client: S3ObjectClient(configuration: server.configuration(), bucket: bucket, timeout: .seconds(5)), prefix: prefix)
    }

    @Test func s3TierSharesEntriesTagsAndExpiry() async throws {
        let server = try await SeaweedServer(bucket: bucket)
        defer { server.stop() }
        let tier = s3Tier(server, prefix: "tier-\(UInt32.random(in: 0...UInt32.max))/")
        let (da, db, dc) = (TemporaryDirectory("cask-s3-a"), TemporaryDirectory("cask-s3-b"), TemporaryDirectory("cask-s3-c"))
        let a = SharedCache(cache: try Cache(directory: da.path), tier: tier)
        let b = SharedCache(cache: try Cache(directory: db.path), tier: tier)
        let c = SharedCache(cache: try Cache(directory: dc.path), tier: tier)
        defer { for s in [a, b, c] { try? s.cache.close() } }
        let now = Date().timeIntervalSince1970
        try a.set("report", [4, 5, 6], expire: 120, tag: "reports")
        try a.set("note", "kept", tag: "notes")
        try a.set(String(repeating: "k", count: 500), "a long key")          // hashed object name
        let entry = try #require(try b.entry("report", as: [Int].self))
        #expect(entry.value == [4, 5, 6] && entry.tag == "reports")
        let expire = try #require(entry.expireTime)
        #expect(expire > now + 110 && expire <= Date().timeIntervalSince1970 + 121)
        #expect(try b.get(String(repeating: "k", count: 500), as: String.self) == "a long key")
        #expect(try b.get("absent", as: String.self) == nil)
        #expect(b.statistics.hits == 2 && b.statistics.misses == 1 && b.statistics.errors == 0)

        // Expired in the store: a miss.
        try a.set("brief", "x", expire: 0.3)
        try await Task.sleep(for: .milliseconds(600))
        #expect(try c.get("brief", as: String.self) == nil)

        #expect(try tier.remove("note".cacheKeyBytes))
        #expect(try tier.remove("note".cacheKeyBytes) == false)
        #expect(try a.evict(tag: "reports") == 1)
        #expect(try c.get("report", as: [Int].self) == nil)
        #expect(try tier.removeAll() >= 2)
        #expect(try c.get(String(repeating: "k", count: 500), as: String.self) == nil)
        #expect(c.statistics.errors == 0)
    }

    /// Leases by conditional PUT: one holder at a time, released by its token only, taken over
    /// once ended; and a memoized call missed by two caches at once runs once.
    @Test func s3LeasesLetOneMachineCompute() async throws {
        let server = try await SeaweedServer(bucket: bucket)
        defer { server.stop() }
        let tier = s3Tier(server, prefix: "lease-\(UInt32.random(in: 0...UInt32.max))/")
        let key = Array("call".utf8)
        #expect(try tier.acquireLease(key, token: Array("one".utf8), millis: 60_000))
        #expect(try tier.acquireLease(key, token: Array("two".utf8), millis: 60_000) == false)
        try tier.releaseLease(key, token: Array("two".utf8))                  // not its lease: kept
        #expect(try tier.acquireLease(key, token: Array("three".utf8), millis: 60_000) == false)
        try tier.releaseLease(key, token: Array("one".utf8))
        #expect(try tier.acquireLease(key, token: Array("four".utf8), millis: 300))
        try await Task.sleep(for: .milliseconds(500))
        #expect(try tier.acquireLease(key, token: Array("five".utf8), millis: 60_000))   // the ended one is taken over

        let (da, db) = (TemporaryDirectory("cask-s3-memo-a"), TemporaryDirectory("cask-s3-memo-b"))
        let a = SharedCache(cache: try Cache(directory: da.path), tier: tier)
        let b = SharedCache(cache: try Cache(directory: db.path), tier: tier)
        defer { for s in [a, b] { try? s.cache.close() } }
        let runs = Mutex(0)
        func slow(_ s: SharedCache) -> AsyncMemoizedFunction<Int, Int> {
            s.cache.memoize(name: "s3-slow") { (x: Int) async throws -> Int in
                runs.withLock { $0 += 1 }
                try await Task.sleep(for: .milliseconds(400))
                return x + 100
            }
        }
        let (fa, fb) = (slow(a), slow(b))
        async let ra = fa(1)
        async let rb = fb(1)
        #expect(try await [ra, rb] == [101, 101])
        #expect(runs.withLock { $0 } == 1)
    }

    /// `--shared s3://bucket/prefix?endpoint=…` on the tool, credentials from the AWS variables;
    /// and the bench's shared workload on it.
    @Test func toolSharesThroughS3() async throws {
        let server = try await SeaweedServer(bucket: bucket)
        defer { server.stop() }
        let dir = TemporaryDirectory("cask-s3-tool")
        let endpoint = "http://127.0.0.1:\(server.s3Port)"
        // A generous timeout: on a loaded machine a request to the server can take more than the
        // tool's default 2 s, and a tier that times out is (rightly) no error for the command.
        let url = "s3://\(bucket)/tool-\(UInt32.random(in: 0...UInt32.max))?timeout=30&endpoint=" + endpoint.replacingOccurrences(of: ":", with: "%3A")
        let env = ["AWS_ACCESS_KEY_ID": SeaweedServer.accessKey, "AWS_SECRET_ACCESS_KEY": SeaweedServer.secretKey, "AWS_REGION": "us-east-1"]
        let first = try runCask(["set", dir.sub("a"), "greeting", "hello", "--tag", "t", "--shared", url], environment: env)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try runCask(["get", dir.sub("b"), "greeting", "--shared", url], environment: env).status == 3)   // b is not a cache yet
        #expect(try runCask(["set", dir.sub("b"), "seed", "1"]).status == 0)
        let fill = try runCask(["get", dir.sub("b"), "greeting", "--shared", url], environment: env)
        if fill.stdout != "hello" {
            // A tier error is no error for a command; the counters say which side failed.
            let counters = try runCask(["stats", dir.sub("a"), "--json"]).stdout
            Issue.record("b did not get a's entry through the tier: '\(fill.stdout)' \(fill.stderr); a's stats: \(counters)")
        }
        let evict = try runCask(["evict", dir.sub("a"), "--tag", "t", "--shared", url], environment: env)
        #expect(evict.stdout == "1\nshared 1\n", "\(evict.stderr)")
        // Wrong credentials: the tier fails, the local cache answers.
        let bad = ["AWS_ACCESS_KEY_ID": "nobody", "AWS_SECRET_ACCESS_KEY": "wrong", "AWS_REGION": "us-east-1"]
        #expect(try runCask(["get", dir.sub("b"), "seed", "--shared", url], environment: bad).stdout == "1")
        #expect(try runCask(["clear", dir.sub("b"), "--shared", url], environment: bad).status == 4)
        #expect(try runCask(["get", dir.sub("b"), "x", "--shared", "s3://"], environment: env).status == 2)

        let bench = try runCask(["bench", "--workload", "shared", "--shared", url, "--range", "20", "--json"], environment: env)
        #expect(bench.status == 0)
        let report = try bench.json()
        let results = try #require(report["results"] as? [[String: Any]])
        for name in ["set", "shared", "local", "bare"] {
            #expect(results.contains { $0["name"] as? String == name && $0["count"] as? Int == 20 && $0["miss"] as? Int == 0 }, "\(name)")
        }
        #expect((report["parameters"] as? [String: Any])?["tier_errors"] as? Int == 0)
    }
}
