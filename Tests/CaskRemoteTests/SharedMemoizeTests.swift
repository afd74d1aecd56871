import Cask
import CaskTestSupport
import Foundation
import Synchronization
import Testing
@testable import CaskRemote

/// Memoized functions of a cache with a shared tier: results computed on one machine are hits on
/// another, validity policies judged where the result is read, and a lease in Redis so that one
/// machine computes a call that several miss at once.
@Suite("Memoize through the shared tier", .enabled(if: RedisServer.isAvailable), .serialized)
struct SharedMemoizeTests {
    final class Count: Sendable {
        let n = Mutex(0)
        func bump() { n.withLock { $0 += 1 } }
        var value: Int { n.withLock { $0 } }
    }

    typealias Machine = SharedCacheTests.Machine

    @Test func aResultComputedOnOneMachineIsAHitOnAnother() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let a = try Machine(server), b = try Machine(server)
        let runs = Count()
        func square(on m: Machine) -> MemoizedFunction<Int, Int> {
            m.shared.cache.memoize(name: "square", expire: 600) { (x: Int) in runs.bump(); return x * x }
        }
        #expect(try square(on: a)(7) == 49)
        #expect(try square(on: b)(7) == 49)
        #expect(runs.value == 1)
        #expect(b.shared.statistics.hits == 1)
        // Now local on b, with the tier's remaining expiry.
        #expect(try square(on: b).isCached(7))
        let left = try #require(try b.shared.cache.storedValue(rawKey: square(on: b).key(for: 7))?.expireTime)
        #expect(left > Date().timeIntervalSince1970 + 590)
        // Recompute runs the body and publishes the new result.
        _ = try square(on: a).recompute(8)
        #expect(try square(on: b)(8) == 64)
        #expect(runs.value == 2)
    }

    /// Clearing a memoized function removes its results from the tier too (else the next call
    /// would be served the shared result it meant to drop); other functions' results stay.
    @Test func clearingAFunctionReachesTheTier() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let a = try Machine(server), b = try Machine(server)
        let runs = Count()
        func twice(on m: Machine) -> MemoizedFunction<Int, Int> {
            m.shared.cache.memoize(name: "twice") { (x: Int) in runs.bump(); return 2 * x }
        }
        let other = a.shared.cache.memoize(name: "twice-other") { (x: Int) in 3 * x }
        for x in 0..<5 { #expect(try twice(on: a)(x) == 2 * x) }
        #expect(try other(1) == 3)
        #expect(runs.value == 5)
        #expect(try twice(on: a).clear() == 5)
        #expect(try twice(on: a)(0) == 0)          // computed again: the tier no longer has it
        #expect(runs.value == 6)
        #expect(try twice(on: b)(3) == 6)          // nor on another machine
        #expect(runs.value == 7)
        let otherOnB = b.shared.cache.memoize(name: "twice-other") { (x: Int) -> Int in Issue.record("recomputed"); return 0 }
        #expect(try otherOnB(1) == 3)              // another function's result is still shared
    }

    /// The policies travel with the result and are judged where it is read: a source file changed
    /// after the result was computed makes the shared result stale on the other machine too.
    @Test func validityPoliciesAreJudgedWhereTheResultIsRead() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let a = try Machine(server), b = try Machine(server), c = try Machine(server)
        let source = TemporaryDirectory("cask-shared-memo-src")
        let file = source.sub("input.csv")
        try Data("1,2,3".utf8).write(to: URL(fileURLWithPath: file))
        let runs = Count()
        func total(on m: Machine) -> MemoizedFunction<String, Int> {
            m.shared.cache.memoize(name: "total", validity: [.sourceFiles([file], contentHash: true)]) { (path: String) in
                runs.bump()
                return try String(contentsOfFile: path, encoding: .utf8).split(separator: ",").reduce(0) { $0 + Int($1)! }
            }
        }
        #expect(try total(on: a)(file) == 6)
        #expect(try total(on: b)(file) == 6)
        #expect(runs.value == 1)
        try Data("1,2,3,4".utf8).write(to: URL(fileURLWithPath: file))
        #expect(try total(on: c)(file) == 10)    // the shared result is stale here: computed again
        #expect(runs.value == 2)
        #expect(try total(on: a)(file) == 10)    // a's own copy is stale too; c's result is shared
        #expect(runs.value == 2)
    }

    /// Four processes on two cache directories call one slow memoized function at once: the body
    /// runs once (one process takes the lease, the others wait for its result in Redis).
    @Test func fourProcessesOnTwoDirectoriesComputeOnce() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let dirs = [TemporaryDirectory("cask-shared-memo-a"), TemporaryDirectory("cask-shared-memo-b")]
        let logDir = TemporaryDirectory("cask-shared-memo-log")
        let log = logDir.sub("runs")
        let url = "redis://127.0.0.1:\(server.port)"
        let children = try (0..<4).map { i -> (Process, Pipe) in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: builtExecutable("cask-remote-worker"))
            p.arguments = ["memo", dirs[i % 2].path, url, log, "12"]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            return (p, out)
        }
        for (p, out) in children {
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
            #expect(text == "result 144\n")
        }
        let runs = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(runs.count == 1, "the body ran in \(runs)")
        withExtendedLifetime((dirs, logDir)) {}
    }

    /// A lease whose holder died (it never releases it) holds the others back until it expires;
    /// then one of them computes.
    @Test func aDeadHoldersLeaseIsTakenOverWhenItExpires() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let a = try Machine(server)
        let runs = Count()
        let f = a.shared.cache.memoize(name: "after-a-crash", stampede: StampedeProtection(sharedLease: .milliseconds(800))) {
            (x: Int) in runs.bump(); return x + 1
        }
        let tier = try #require(a.shared.tier as? RedisTier)
        #expect(try tier.acquireLease(f.key(for: 1), token: Array("dead-holder".utf8), millis: 800))
        let started = ContinuousClock.now
        #expect(try f(1) == 2)
        let waited = ContinuousClock.now - started
        #expect(runs.value == 1)
        #expect(waited >= .milliseconds(600), "computed after \(waited), before the dead holder's lease ended")
        // Its own lease is released once the result is published.
        #expect(try tier.acquireLease(f.key(for: 1), token: Array("next".utf8), millis: 1000))
    }

    /// Two caches in one process call an async memoized function at once: it runs once.
    @Test func asyncCallsOnTwoMachinesComputeOnce() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let a = try Machine(server), b = try Machine(server)
        let runs = Count()
        let fa = a.shared.cache.memoize(name: "async-slow") { (x: Int) async throws -> Int in
            runs.bump(); try await Task.sleep(for: .milliseconds(200)); return x * 3
        }
        let fb = b.shared.cache.memoize(name: "async-slow") { (x: Int) async throws -> Int in
            runs.bump(); try await Task.sleep(for: .milliseconds(200)); return x * 3
        }
        async let ra = fa(5)
        async let rb = fb(5)
        #expect(try await [ra, rb] == [15, 15])
        #expect(runs.value == 1)
    }

    /// With the tier down, a memoized call computes at once (the lease is not waited for), and
    /// its errors are counted.
    @Test func aTierThatIsDownNeverHoldsAMemoizedCall() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let a = try Machine(server, timeout: .milliseconds(50), breaker: SharedBreakerSettings(failureThreshold: 2))
        server.stop()
        let runs = Count()
        let f = a.shared.cache.memoize(name: "offline") { (x: Int) in runs.bump(); return -x }
        let started = ContinuousClock.now
        for i in 0..<5 { #expect(try f(i) == -i) }
        #expect(try f(0) == 0)
        #expect(runs.value == 5)
        #expect(ContinuousClock.now - started < .seconds(3))
        let stats = a.shared.statistics
        #expect(stats.errors >= 2 && stats.breakerOpen)
    }
}
