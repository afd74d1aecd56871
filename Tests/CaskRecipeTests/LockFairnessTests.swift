import CaskTestSupport
import Foundation
import Testing
@testable import Cask

/// Waiters with a timeout, and async waiters, get the lock while other processes hammer it with
/// blocking waits (they wait in the kernel's queue like them, not by polling).
@Suite("Lock fairness across processes")
struct LockFairnessTests {
    func hammered(_ body: (Cache) async throws -> Void) async throws {
        let dir = TempDir()
        let cache = try Cache(directory: dir.path)
        let children = try (0..<3).map { _ in try Child.spawn(["lock-hammer", dir.path, "20"]) }
        defer {
            try? cache.set("stop", true)
            for c in children {
                let (status, lines) = c.finish()
                #expect(status == 0, "\(lines.suffix(2))")
            }
        }
        // Every child is hammering.
        let start = Date()
        while try await cache.getInBackground("hammering", as: Int.self) ?? 0 < 3 && Date().timeIntervalSince(start) < 10 {
            try await Task.sleep(for: .milliseconds(5))
        }
        try await body(cache)
    }

    @Test func timedWaiterGetsTheLock() async throws {
        try await hammered { cache in
            let lock = try Lock(cache: cache, name: "hot")
            // The timeout is generous for a loaded 2-core machine; a starving waiter (the old
            // polling one) never got the lock within it while it changed hands hundreds of times.
            for _ in 0..<3 {
                let held = try lock.acquire(timeout: .seconds(5))
                held.release()
            }
        }
    }

    @Test func asyncWaiterGetsTheLock() async throws {
        try await hammered { cache in
            let lock = try Lock(cache: cache, name: "hot")
            for _ in 0..<3 {
                let got = try await lock.withLock(timeout: .seconds(5)) { () async in true }
                #expect(got)
            }
        }
    }

    /// A waiter that gave up (timeout or cancellation) does not keep the lock when it arrives late.
    @Test func abandonedWaitHandsTheLockBack() async throws {
        let f = try makeCache()
        let lock = try Lock(cache: f.cache, name: "late")
        let holder = try #require(try lock.tryAcquire())
        #expect { try lock.acquire(timeout: .milliseconds(100)) } throws: { ($0 as? CaskError)?.code == .timedOut }
        await #expect { try await lock.withLock(timeout: .milliseconds(100)) { () async in } }
            throws: { ($0 as? CaskError)?.code == .timedOut }
        let cancelled = Task { try await lock.withLock { () async in } }
        try await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        holder.release()
        var free = false
        for _ in 0..<200 where !free {
            if let h = try lock.tryAcquire() { h.release(); free = true } else { try await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(free, "the late arrivals released the lock")
    }
}

@Suite("Abandoned lock waits")
struct AbandonedLockWaitTests {
    /// A wait that timed out stays queued in the kernel and takes the lock for a moment when it is
    /// released; a `tryAcquire` right after the release must not take that moment for a holder.
    @Test func tryAcquireAfterATimedOutWaitSucceeds() throws {
        let f = try makeCache()
        let lock = try Lock(cache: f.cache, name: "late")
        var refused = 0
        for _ in 0..<100 {
            let held = try #require(try lock.tryAcquire())
            #expect { try lock.acquire(timeout: .milliseconds(1)) } throws: { ($0 as? CaskError)?.code == .timedOut }
            held.release()
            if let again = try lock.tryAcquire() { again.release() } else { refused += 1 }
        }
        #expect(refused == 0, "\(refused) of 100 tries right after a release were refused")
    }

    /// A late wait queued behind another holder does not make `tryAcquire` wait for it: the
    /// refusal is the holder's, and the answer is nil at once (it used to take 5 s per try).
    @Test func tryAcquireIsRefusedAtOnceWhileALateWaitIsQueuedBehindAHolder() throws {
        let f = try makeCache()
        let lock = try Lock(cache: f.cache, name: "queued")
        let held = try #require(try lock.tryAcquire())
        #expect { try lock.acquire(timeout: .milliseconds(1)) } throws: { ($0 as? CaskError)?.code == .timedOut }
        let start = monotonicSeconds()
        for _ in 0..<3 { #expect(try lock.tryAcquire() == nil) }
        let elapsed = monotonicSeconds() - start
        #expect(elapsed < 2.5, "three refused tries took \(elapsed) s")
        held.release()
        var free = false
        for _ in 0..<2000 where !free {
            if let h = try lock.tryAcquire() { h.release(); free = true } else { usleep(1000) }
        }
        #expect(free)
    }
}
