import CaskTestSupport
import Foundation
import Testing
import CaskStore
@testable import Cask

@Suite("Memoize single flight")
struct SingleFlightTests {
    /// The computing caller is cancelled: a waiter that was not cancelled still gets a result.
    @Test func cancelledLeaderDoesNotFailItsWaiters() async throws {
        let f = try makeCache()
        let runs = Counter()
        let started = Flag()
        let slow = f.cache.memoize(name: "slow") { (x: Int) async throws -> Int in
            let n = runs.bump()
            started.set(true)
            try await Task.sleep(for: .milliseconds(n == 1 ? 10_000 : 10))   // the first runs until cancelled
            return x * 10 + n
        }
        let leader = Task { try await slow(4) }
        await started.wait()
        let waiter = Task { try await slow(4) }
        try await Task.sleep(for: .milliseconds(50))   // the waiter joins the flight
        leader.cancel()
        await #expect(throws: CancellationError.self) { try await leader.value }
        #expect(try await waiter.value == 42, "the waiter computes the result itself")
        #expect(runs.value == 2)
    }

    /// A cancelled waiter returns at once with CancellationError; the flight goes on.
    @Test func cancelledWaiterReturnsPromptly() async throws {
        let f = try makeCache()
        let started = Flag(), release = Flag()
        let slow = f.cache.memoize(name: "slow") { (x: Int) async throws -> Int in
            started.set(true)
            await release.wait(timeout: 3)
            return x
        }
        let leader = Task { try await slow(1) }
        await started.wait()
        let waiter = Task { try await slow(1) }
        try await Task.sleep(for: .milliseconds(50))
        let t0 = Date()
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        let waited = Date().timeIntervalSince(t0)
        #expect(waited < 0.5, "the cancelled waiter returned after \(waited) s")
        release.set(true)
        #expect(try await leader.value == 1)
    }

    /// `recompute` runs the function even while a normal call of the same arguments is computing.
    @Test func recomputeDoesNotJoinANormalCallsFlight() throws {
        let f = try makeCache()
        let runs = Counter()
        let inFirst = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let g = f.cache.memoize(name: "g") { (x: Int) -> Int in
            let n = runs.bump()
            if n == 1 { inFirst.signal(); release.wait() }
            return n
        }
        let first = Locked<Int?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { first.withLock { $0 = try? g(7) }; done.signal() }
        inFirst.wait()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) { release.signal() }
        #expect(try g.recompute(7) == 2, "recompute must run the function, not return the running call's result")
        done.wait()
        #expect(first.withLock { $0 } == 1)
    }
}
