import CaskTestSupport
import Foundation
import Testing
@testable import CaskRemote

/// `--shared URL` on the `cask` tool: two directories sharing one Redis server.
@Suite("cask --shared", .enabled(if: RedisServer.isAvailable), .serialized)
struct SharedToolTests {
    @Test func twoDirectoriesShareThroughTheTool() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let dir = TemporaryDirectory("cask-shared-tool")
        let (a, b) = (dir.sub("a"), dir.sub("b"))
        let url = "redis://127.0.0.1:\(server.port)"
        #expect(try runCask(["set", a, "greeting", "hello", "--tag", "t", "--shared", url]).status == 0)
        #expect(try runCask(["set", a, "other", "x", "--shared", url]).status == 0)
        #expect(try runCask(["set", b, "local-only", "y"]).status == 0)
        #expect(try runCask(["get", b, "greeting"]).status == 1)                  // not local
        #expect(try runCask(["get", b, "greeting", "--shared", url]).stdout == "hello")
        #expect(try runCask(["get", b, "greeting"]).stdout == "hello")            // now local
        let meta = try runCask(["get", b, "greeting", "--meta"]).json()
        #expect(meta["tag"] as? String == "t")
        #expect(try runCask(["get", b, "absent", "--shared", url]).status == 1)

        let stats = try runCask(["stats", b, "--json"]).json()
        #expect(stats["shared_hits"] as? Int == 1 && stats["shared_misses"] as? Int == 1 && stats["shared_errors"] as? Int == 0)

        // delete: found in the tier though not here; gone for everyone after.
        #expect(try runCask(["delete", b, "other", "--shared", url]).status == 0)
        #expect(try runCask(["get", dir.sub("c"), "other", "--shared", url]).status == 3)   // c is not a cache
        #expect(try runCask(["set", dir.sub("c"), "seed", "1"]).status == 0)
        #expect(try runCask(["get", dir.sub("c"), "other", "--shared", url]).status == 1)

        let evict = try runCask(["evict", a, "--tag", "t", "--shared", url])
        #expect(evict.status == 0 && evict.stdout == "1\nshared 1\n")
        let clear = try runCask(["clear", b, "--shared", url])
        #expect(clear.status == 0 && clear.stdout.hasSuffix("shared 0\n"))
    }

    @Test func badURLsAndADeadTierAreReported() throws {
        let server = try RedisServer()
        let dir = TemporaryDirectory("cask-shared-tool-bad")
        let a = dir.sub("a")
        let url = "redis://127.0.0.1:\(server.port)"
        #expect(try runCask(["set", a, "k", "v", "--shared", url]).status == 0)
        for bad in ["http://x", "redis://h:0", "s3://?endpoint=http://x", "s3://b?color=red", "s3://b?timeout=0", "redis-cluster://"] {
            #expect(try runCask(["get", a, "k", "--shared", bad]).status == 2, "\(bad)")
        }
        server.stop()
        // The tier is gone: local reads and writes still work; a removal that must reach it fails.
        #expect(try runCask(["get", a, "k", "--shared", url]).stdout == "v")
        #expect(try runCask(["set", a, "k2", "v2", "--shared", url]).status == 0)
        #expect(try runCask(["get", a, "nothing", "--shared", url]).status == 1)
        #expect(try runCask(["clear", a, "--shared", url]).status == 4)
        #expect(try runCask(["get", a, "k"]).status == 1)                          // cleared locally all the same
        let stats = try runCask(["stats", a, "--json"]).json()
        #expect((stats["shared_errors"] as? Int ?? 0) >= 2)
    }

    /// `cask bench --workload shared`: every phase hits, nothing is left under its prefix, and
    /// redis-benchmark's figures are in the same report.
    @Test func benchSharedWorkloadMeasuresEveryPhase() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let url = "redis://127.0.0.1:\(server.port)"
        let run = try runCask(["bench", "--workload", "shared", "--shared", url, "--range", "200", "--json"])
        #expect(run.status == 0)
        let report = try run.json()
        let parameters = try #require(report["parameters"] as? [String: Any])
        #expect(parameters["tier_errors"] as? Int == 0 && parameters["keys"] as? Int == 200)
        let results = try #require(report["results"] as? [[String: Any]])
        for name in ["set", "shared", "local", "bare"] {
            let line = try #require(results.first { $0["name"] as? String == name }, "\(name)")
            #expect(line["count"] as? Int == 200 && line["miss"] as? Int == 0, "\(name): \(line)")
        }
        if onPath("redis-benchmark") {
            #expect(results.contains { $0["name"] as? String == "redis-benchmark GET" })
            #expect(parameters["shared_vs_redis_get_p50"] is Double)
        }
        guard case .array(let parts?) = try RedisClient(server.configuration).command([bytes("SCAN"), bytes("0"), bytes("MATCH"),
                                                                                      bytes("cask-bench-*"), bytes("COUNT"), bytes("10000")]),
              case .array(let left?) = parts[1] else {
            Issue.record("SCAN reply")
            return
        }
        #expect(left.isEmpty, "the bench left \(left.count) keys")
        #expect(try runCask(["bench", "--workload", "shared"]).status == 2)
        #expect(try runCask(["bench", "--workload", "core", "--shared", url]).status == 2)
        #expect(try runCask(["bench", "--workload", "shared", "--shared", "redis://127.0.0.1:1", "--range", "10"]).status == 4)
    }
}
