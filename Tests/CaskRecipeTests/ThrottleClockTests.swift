import CaskTestSupport
import Dispatch
import Foundation
import Testing
import Cask
import CaskStore

/// A throttle waits on the cache's clock: on a frozen `ManualClock` its `acquire()` moves the clock
/// instead of sleeping in real time (where it would wait forever, the clock never moving).
@Suite("Throttle waits on the cache's clock")
struct ThrottleClockTests {
    /// 2 calls per second: a burst of 2, then one every 0.5 s of clock time.
    static let calls = 5
    static let expectedWait = 1.5

    @Test func blockingAcquireAdvancesAManualClock() throws {
        let f = try makeCache()
        let throttle = try Throttle(cache: f.cache, name: "api", count: 2, per: .seconds(1))
        let start = f.clock.now
        // On a thread with a deadline, so that a wait in real time fails the test instead of hanging it.
        let done = DispatchSemaphore(value: 0)
        let failure = Locked<(any Error)?>(nil)
        Thread {
            do { for _ in 0..<Self.calls { try throttle.acquire() } } catch { failure.withLock { $0 = error } }
            done.signal()
        }.start()
        guard done.wait(timeout: .now() + 5) == .success else {
            Issue.record("acquire() still waiting after 5 s of real time on a manual clock")
            return
        }
        #expect(failure.withLock { $0 } == nil)
        #expect(abs(f.clock.now - start - Self.expectedWait) < 0.01, "clock moved \(f.clock.now - start) s")
        #expect(try !throttle.tryAcquire(), "the bucket is empty right after the last call")
    }

    @Test func asyncAcquireAdvancesAManualClock() async throws {
        let f = try makeCache()
        let throttle = try Throttle(cache: f.cache, name: "api", count: 2, per: .seconds(1))
        let start = f.clock.now
        // The deadline counts from when the acquiring task starts: under a busy test run, tasks may
        // wait long for a thread before that. With the clock-based wait, once started it does not
        // suspend; a wait in real time would keep it going past the deadline.
        let started = Locked<Date?>(nil)
        let finished = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                started.withLock { $0 = Date() }
                for _ in 0..<Self.calls { try await throttle.acquire() }
                return true
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: .milliseconds(100))
                    if let s = started.withLock({ $0 }), Date().timeIntervalSince(s) > 5 { return false }
                }
            }
            let first = try await group.next() ?? false
            group.cancelAll()
            return first
        }
        #expect(finished, "acquire() still waiting after 5 s of real time on a manual clock")
        #expect(abs(f.clock.now - start - Self.expectedWait) < 0.01, "clock moved \(f.clock.now - start) s")
        #expect(try !throttle.tryAcquire())
    }
}
