import CaskTestSupport
import Foundation
import Testing
@testable import Cask

/// Async paths must not park the cooperative pool's threads in blocking system calls: while
/// another handle holds every shard's write lock, async memoized calls and async streaming sets
/// wait off the pool, and an unrelated short sleep still ends on time.
@Suite("Async paths do not block the cooperative pool")
struct AsyncBlockingTests {
    /// Holds every shard's lock (as another process would) until `release` is signalled.
    func holdShardLocks(_ f: Fixture, shards: Int) throws -> [LockFileHandle] {
        let held = try (0..<shards).map { try LockFileHandle(path: f.dir.path + "/shard-00\($0)/lock") }
        for h in held { try h.lock() }
        return held
    }

    /// How long an unrelated 10 ms task sleep takes while `tasks` are in flight.
    func sleepWhileBlocked(_ tasks: [Task<Void, any Error>], held: [LockFileHandle]) async throws -> Double {
        // Release from a plain thread, so that the release itself needs no cooperative thread.
        Thread { usleep(2_000_000); for h in held { h.unlock() } }.start()
        usleep(50_000)   // the tasks reach the lock (a thread sleep: the pool may be stuck)
        let t0 = Date()
        let sleeper = Task.detached { try await Task.sleep(for: .milliseconds(10)) }
        try await sleeper.value
        let slept = Date().timeIntervalSince(t0)
        for t in tasks { try await t.value }
        return slept
    }

    @Test func asyncMemoizeWaitsOffThePool() async throws {
        let f = try makeCache()
        let g = f.cache.memoize(name: "g") { (x: Int) async in x * 2 }
        let held = try holdShardLocks(f, shards: 2)
        let tasks = (0..<8).map { i in Task { () async throws in let v = try await g(i); #expect(v == i * 2) } }
        let slept = try await sleepWhileBlocked(tasks, held: held)
        #expect(slept < 1, "a 10 ms sleep took \(slept) s")
        #expect(try g.isCached(7))
    }

    @Test func asyncStreamingSetWaitsOffThePool() async throws {
        let f = try makeCache()
        let held = try holdShardLocks(f, shards: 2)
        let cache = f.cache
        let tasks = (0..<8).map { i in
            Task { () async throws in
                let chunks = AsyncStream<[UInt8]> { c in c.yield([UInt8](repeating: UInt8(i), count: 100)); c.finish() }
                try await cache.set("k\(i)", chunks: chunks)
            }
        }
        let slept = try await sleepWhileBlocked(tasks, held: held)
        #expect(slept < 1, "a 10 ms sleep took \(slept) s")
        let stored = try await cache.get("k3", as: [UInt8].self)
        #expect(stored?.count == 100)
    }
}
