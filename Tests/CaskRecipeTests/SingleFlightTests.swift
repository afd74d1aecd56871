import CaskTestSupport
import Foundation
import Testing
import CaskStore
@testable import Cask

@Suite("Memoize single flight")
struct SingleFlightTests {
    /// Waits until `n` tasks wait for the flight of `f(x)` (no guess at how long task start-up takes).
    func waitForWaiters(_ f: AsyncMemoizedFunction<Int, Int>, _ x: Int, _ n: Int) async throws {
        let fk = f.core.flightKey(try f.key(for: x))
        let start = Date()
        while Date().timeIntervalSince(start) < 120 {
            let count = FlightBoard.flights.withLock { $0[FlightKey(fk)] as? Flight<Int> }?.state.withLock { $0.waiters.count } ?? 0
            if count >= n { return }
            try await Task.sleep(for: .milliseconds(1))
        }
        Issue.record("no waiter joined the flight")
    }

    /// The computing caller is cancelled: a waiter that was not cancelled still gets a result.
    @Test func cancelledLeaderDoesNotFailItsWaiters() async throws {
        let f = try makeCache()
        let runs = Counter()
        let started = Flag()
        let slow = f.cache.memoize(name: "slow") { (x: Int) async throws -> Int in
            let n = runs.bump()
            started.set(true)
            // The first runs until cancelled (a fixed 10 s once ran out on a loaded CI machine
            // before the waiter's task had even started, and the waiter then hit the cache).
            try await Task.sleep(for: .milliseconds(n == 1 ? 600_000 : 10))
            return x * 10 + n
        }
        let leader = Task { try await slow(4) }
        await started.wait()
        let waiter = Task { try await slow(4) }
        try await waitForWaiters(slow, 4, 1)
        leader.cancel()
        await #expect(throws: CancellationError.self) { try await leader.value }
        #expect(try await waiter.value == 42, "the waiter computes the result itself")
        #expect(runs.value == 2)
    }

    /// A cancelled waiter returns with CancellationError while the flight goes on — the leader is
    /// held until the waiter has returned (before the fix the waiter waited for the flight to end).
    /// No wall-clock bound: on a loaded 2-core machine task wake-ups alone can take seconds.
    @Test func cancelledWaiterReturnsPromptly() async throws {
        let f = try makeCache()
        let started = Flag(), release = Flag(), leaderDone = Flag()
        let slow = f.cache.memoize(name: "slow") { (x: Int) async throws -> Int in
            started.set(true)
            await release.wait(timeout: 300)
            leaderDone.set(true)
            return x
        }
        let leader = Task { try await slow(1) }
        await started.wait()
        let waiter = Task { try await slow(1) }
        try await waitForWaiters(slow, 1, 1)
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(!leaderDone.value, "the cancelled waiter returned only when the flight ended")
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
