import Dispatch
import NIOCore
import Synchronization

/// Blocks the calling thread until `future` completes or `deadline` passes; nil at the deadline
/// (the operation is left to finish or fail on its own). The blocking calls of the shared tier
/// (TLS Redis connections, S3 requests) wait this way: on a semaphore the future's callback
/// signals, never on a thread of Swift's cooperative pool.
func waitForFuture<T: Sendable>(_ future: EventLoopFuture<T>, until deadline: ContinuousClock.Instant) -> Result<T, any Error>? {
    let done = DispatchSemaphore(value: 0)
    let outcome = Mutex<Result<T, any Error>?>(nil)
    future.whenComplete { result in
        outcome.withLock { $0 = result }
        done.signal()
    }
    return semaphoreWait(done, until: deadline) ? outcome.withLock { $0 }! : nil
}

/// Waits on `semaphore` until `deadline`; whether it was signalled.
func semaphoreWait(_ semaphore: DispatchSemaphore, until deadline: ContinuousClock.Instant) -> Bool {
    let left = max(deadline - ContinuousClock.now, .zero).nanoseconds
    return semaphore.wait(timeout: .now() + .nanoseconds(Int(min(left, Int64(Int32.max) * 1_000_000)))) == .success
}
