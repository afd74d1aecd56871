import Cask
import CaskTestSupport
import Foundation
import Testing
@testable import CaskRemote

/// The cluster client and the shared tier against a 3-master Redis Cluster the tests start on
/// loopback (`redis-server --cluster-enabled yes` three times, `redis-cli --cluster create`).
@Suite("Redis Cluster", .enabled(if: RedisClusterServer.isAvailable), .serialized)
struct RedisClusterTests {
    @Test func urlsNameTheSeedsAndTheCredentials() throws {
        let c = try RedisClusterConfiguration(url: "redis-cluster://app:p%40ss@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002")
        #expect(c.seeds == [RedisNode(host: "10.0.0.1", port: 7000), RedisNode(host: "10.0.0.2", port: 7001),
                            RedisNode(host: "::1", port: 7002)])
        #expect(c.user == "app" && c.password == "p@ss")
        #expect(try RedisClusterConfiguration(url: "redis-cluster://h:1").seeds == [RedisNode(host: "h", port: 1)])
        for bad in ["redis://h:1", "redis-cluster://", "redis-cluster://h:1,,h:2", "redis-cluster://h:1/2",
                    "redis-cluster://h", "redis-cluster://h:0"] {
            #expect(throws: RedisError.self, "\(bad)") { try RedisClusterConfiguration(url: bad) }
        }
        #expect(Redirect(.error("MOVED 3999 127.0.0.1:6381")) == .moved(3999, RedisNode(host: "127.0.0.1", port: 6381)))
        #expect(Redirect(.error("ASK 1 [::1]:7000")) == .ask(1, RedisNode(host: "::1", port: 7000)))
        #expect(Redirect(.error("MOVED 16384 h:1")) == nil && Redirect(.error("ERR wrong")) == nil)
    }

    /// The slot of every key, hash tags included, is the one the server computes (`CLUSTER KEYSLOT`).
    @Test func slotsAreTheServers() throws {
        let cluster = try RedisClusterServer()
        defer { cluster.stop() }
        let node = cluster.direct(0)
        var rng = SystemRandomNumberGenerator()
        var keys: [[UInt8]] = [bytes("foo"), bytes("{user1000}.following"), bytes("{}x"), bytes("{{a}}"), bytes("a{b}{c}"), []]
        for _ in 0..<300 {
            let alphabet = bytes("ab{}xyz09")
            keys.append((0..<Int(rng.next() % 12)).map { _ in
                rng.next() % 3 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : alphabet[Int(rng.next() % UInt64(alphabet.count))]
            })
        }
        for key in keys {
            guard case .integer(let slot) = try node.command([bytes("CLUSTER"), bytes("KEYSLOT"), key]) else {
                Issue.record("KEYSLOT is not an integer")
                return
            }
            #expect(RedisSlot.of(key) == Int(slot), "\(key)")
        }
    }

    /// A client that knows one node learns the others and finds each key on its node.
    @Test func keysSpreadOverTheMastersAndReadBack() throws {
        let cluster = try RedisClusterServer()
        defer { cluster.stop() }
        let client = RedisClusterClient(cluster.configuration())
        for i in 0..<300 {
            let reply = try client.command(RedisClient.setCommand(bytes("k\(i)"), bytes("v\(i)"), expireMillis: nil), key: bytes("k\(i)"))
            #expect(reply == .simple("OK"))
        }
        for i in 0..<300 {
            #expect(try client.command([bytes("GET"), bytes("k\(i)")], key: bytes("k\(i)")) == .bulk(bytes("v\(i)")))
        }
        var total: Int64 = 0
        for i in 0..<3 {
            guard case .integer(let n) = try cluster.direct(i).command([bytes("DBSIZE")]) else { continue }
            #expect(n > 50, "node \(i) holds \(n) of 300 keys")
            total += n
        }
        #expect(total == 300)
    }

    /// A slot moved to another node while a client holds the old map: during the migration, keys
    /// already moved are reached through `ASK`, the others on the old node, and new keys land on the
    /// new node; after it, `MOVED` corrects the client's map.
    @Test func redirectsFollowASlotBeingMoved() throws {
        let cluster = try RedisClusterServer()
        defer { cluster.stop() }
        let client = RedisClusterClient(cluster.configuration())
        for k in ["{m}1", "{m}2"] {
            _ = try client.command(RedisClient.setCommand(bytes(k), bytes("v" + k), expireMillis: nil), key: bytes(k))
        }
        let slot = RedisSlot.of(bytes("{m}"))
        let source = try #require(client.node(serving: slot))
        let from = try #require(cluster.nodes.firstIndex(of: source))
        let to = (from + 1) % 3
        let (fromID, toID) = (try cluster.id(from), try cluster.id(to))
        let slotText = bytes(String(slot))
        _ = try cluster.direct(to).command([bytes("CLUSTER"), bytes("SETSLOT"), slotText, bytes("IMPORTING"), bytes(fromID)])
        _ = try cluster.direct(from).command([bytes("CLUSTER"), bytes("SETSLOT"), slotText, bytes("MIGRATING"), bytes(toID)])
        let migrate = { (key: String) throws in
            _ = try cluster.direct(from).command([bytes("MIGRATE"), bytes("127.0.0.1"), bytes(String(cluster.ports[to])), [],
                                                  bytes("0"), bytes("5000"), bytes("KEYS"), bytes(key)])
        }
        try migrate("{m}1")

        #expect(try client.command([bytes("GET"), bytes("{m}1")], key: bytes("{m}1")) == .bulk(bytes("v{m}1")))   // ASK
        #expect(try client.command([bytes("GET"), bytes("{m}2")], key: bytes("{m}2")) == .bulk(bytes("v{m}2")))   // still there
        _ = try client.command(RedisClient.setCommand(bytes("{m}3"), bytes("new"), expireMillis: nil), key: bytes("{m}3"))
        #expect(client.node(serving: slot) == source)   // an ASK does not change the map

        try migrate("{m}2")
        for i in 0..<3 {
            _ = try cluster.direct(i).command([bytes("CLUSTER"), bytes("SETSLOT"), slotText, bytes("NODE"), bytes(toID)])
        }
        #expect(try client.command([bytes("GET"), bytes("{m}2")], key: bytes("{m}2")) == .bulk(bytes("v{m}2")))   // MOVED
        #expect(client.node(serving: slot) == cluster.nodes[to])
        for (k, v) in [("{m}1", "v{m}1"), ("{m}3", "new")] {
            #expect(try client.command([bytes("GET"), bytes(k)], key: bytes(k)) == .bulk(bytes(v)))
        }
        // Everything in the slot is on the new node now.
        guard case .integer(let n) = try cluster.direct(to).command([bytes("CLUSTER"), bytes("COUNTKEYSINSLOT"), slotText]) else {
            Issue.record("COUNTKEYSINSLOT is not an integer")
            return
        }
        #expect(n == 3)
    }

    /// Two caches share entries through the cluster: values, tags and expiry arrive, a delete
    /// propagates, and the keys are spread over the masters.
    @Test func twoCachesShareThroughTheCluster() throws {
        let cluster = try RedisClusterServer()
        defer { cluster.stop() }
        let a = try ClusterMachine(cluster), b = try ClusterMachine(cluster)
        let now = Date().timeIntervalSince1970
        for i in 0..<60 { try a.shared.set("r\(i)", i, expire: 120, tag: i % 2 == 0 ? "even" : nil) }
        for i in 0..<60 {
            let entry = try #require(try b.shared.entry("r\(i)", as: Int.self))
            #expect(entry.value == i && entry.tag == (i % 2 == 0 ? "even" : nil))
            let expire = try #require(entry.expireTime)
            #expect(expire > now + 100 && expire <= Date().timeIntervalSince1970 + 120.5)
        }
        #expect(try b.shared.delete("r0"))
        let c = try ClusterMachine(cluster)
        #expect(try c.shared.get("r0", as: Int.self) == nil)
        #expect(try c.shared.get("r1", as: Int.self) == 1)
        #expect(b.shared.statistics.hits == 60 && b.shared.statistics.errors == 0)
        #expect(c.shared.statistics.hits == 1 && c.shared.statistics.misses == 1)
        for i in 0..<3 {
            guard case .integer(let n) = try cluster.direct(i).command([bytes("DBSIZE")]) else { continue }
            #expect(n > 5, "node \(i) holds \(n) of 59 entries")
        }
        withExtendedLifetime((a, b)) {}
    }

    /// A node killed mid-run: local reads keep working, its keys' calls fail within the timeout
    /// and are counted, the other nodes' keys are still shared, and all is well once it returns.
    @Test func aKilledNodeCostsOnlyItsKeysUntilItReturns() throws {
        let cluster = try RedisClusterServer()
        defer { cluster.stop() }
        let breaker = SharedBreakerSettings(failureThreshold: 1000)
        let a = try ClusterMachine(cluster, timeout: .milliseconds(100), breaker: breaker)
        let b = try ClusterMachine(cluster, timeout: .milliseconds(100), breaker: breaker)
        let keys = (0..<60).map { "n\($0)" }
        for k in keys { try a.shared.set(k, k) }
        let probe = RedisClusterClient(cluster.configuration())
        let onNode = { (k: String) -> Int? in
            probe.node(serving: RedisSlot.of(bytes("cask:") + k.cacheKeyBytes)).flatMap { cluster.nodes.firstIndex(of: $0) }
        }
        try probe.ping()
        let down = keys.filter { onNode($0) == 2 }, up = keys.filter { onNode($0) != 2 }
        #expect(!down.isEmpty && !up.isEmpty)

        cluster.stop(2)
        let started = ContinuousClock.now
        for k in down { #expect(try b.shared.get(k, as: String.self) == nil) }
        for k in up { #expect(try b.shared.get(k, as: String.self) == k) }
        for k in keys { #expect(try a.shared.get(k, as: String.self) == k) }   // local, no tier call
        let elapsed = ContinuousClock.now - started
        // Each failed call is bounded by its 100 ms timeout (and refused connections fail at once).
        #expect(elapsed < .milliseconds(100) * down.count + .seconds(3), "\(elapsed) for \(down.count) failing calls")
        var stats = b.shared.statistics
        #expect(stats.errors == down.count && stats.hits == up.count)

        try cluster.start(2)
        try cluster.waitUntilHealthy()
        try a.shared.set(down[0], "again")
        #expect(try b.shared.get(down[0], as: String.self) == "again")
        stats = b.shared.statistics
        #expect(stats.errors == down.count && stats.hits == up.count + 1)
        withExtendedLifetime(a) {}
    }
}

/// A cache in a directory of its own whose shared tier is the cluster.
final class ClusterMachine: @unchecked Sendable {
    // @unchecked: immutable after init.
    let dir = TemporaryDirectory("cask-shared-cluster")
    let shared: SharedCache

    init(_ cluster: RedisClusterServer, timeout: Duration = .milliseconds(500),
         breaker: SharedBreakerSettings = SharedBreakerSettings()) throws {
        shared = SharedCache(cache: try Cache(directory: dir.path),
                             tier: RedisTier(cluster: cluster.configuration(timeout: timeout)), breaker: breaker)
    }

    deinit { try? shared.cache.close() }
}

extension RedisClusterTests {
    /// `evict(tag:)` and `clear()` reach every master of the cluster.
    @Test func evictAndClearReachEveryNode() throws {
        let cluster = try RedisClusterServer()
        defer { cluster.stop() }
        let a = try ClusterMachine(cluster), b = try ClusterMachine(cluster)
        for i in 0..<90 { try a.shared.set("e\(i)", i, tag: i % 3 == 0 ? "third" : nil) }
        #expect(try a.shared.evict(tag: "third") == 30)
        for i in 0..<90 { #expect(try b.shared.get("e\(i)", as: Int.self) == (i % 3 == 0 ? nil : i)) }
        let c = try ClusterMachine(cluster)
        #expect(try c.shared.clear() == 0)          // nothing local; 60 shared entries removed
        for i in 0..<3 {
            guard case .integer(let n) = try cluster.direct(i).command([bytes("DBSIZE")]) else { continue }
            #expect(n == 0, "node \(i) still holds \(n) keys")
        }
        #expect(a.shared.statistics.errors == 0 && c.shared.statistics.errors == 0)
        withExtendedLifetime(b) {}
    }
}

extension RedisClusterTests {
    /// Batches over a cluster: one pipeline per node, every entry where it belongs.
    @Test func batchesSpanTheNodes() throws {
        let cluster = try RedisClusterServer()
        defer { cluster.stop() }
        let a = try ClusterMachine(cluster), b = try ClusterMachine(cluster)
        try a.shared.set(many: (0..<200).map { ("b\($0)", $0) }, tag: "t")
        let values = try b.shared.get(many: (0..<200).map { "b\($0)" } + ["none"], as: Int.self)
        #expect(values == (0..<200).map { Optional($0) } + [nil])
        #expect(b.shared.statistics.hits == 200 && b.shared.statistics.errors == 0)
        for i in 0..<3 {
            guard case .integer(let n) = try cluster.direct(i).command([bytes("DBSIZE")]) else { continue }
            #expect(n > 30, "node \(i) holds \(n) keys")
        }
        withExtendedLifetime(a) {}
    }
}

extension RedisClusterTests {
    /// A cluster whose nodes require a password: the client authenticates on every node it
    /// learns of (from a URL naming one), and a wrong password fails every call.
    @Test func everyNodeIsAuthenticated() throws {
        let cluster = try RedisClusterServer(password: "s3cr:t@x")
        defer { cluster.stop() }
        let url = "redis-cluster://:s3cr%3At%40x@127.0.0.1:\(cluster.ports[0])"
        let tier = try RedisTier(url: url, timeout: .milliseconds(500))
        for i in 0..<60 { try tier.write(bytes("a\(i)"), bytes("v\(i)"), expireMillis: nil, tag: nil) }
        for i in 0..<60 { #expect(try tier.read(bytes("a\(i)"))?.bytes == bytes("v\(i)")) }
        for i in 0..<3 {
            guard case .integer(let n) = try cluster.direct(i).command([bytes("DBSIZE")]) else { continue }
            #expect(n > 5, "node \(i) holds \(n) keys")
        }
        let wrong = try RedisTier(url: "redis-cluster://:nope@127.0.0.1:\(cluster.ports[0])", timeout: .milliseconds(500))
        #expect(throws: RedisError.self) { try wrong.read(bytes("a1")) }
    }
}
