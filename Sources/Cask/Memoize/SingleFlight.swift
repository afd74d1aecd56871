import Dispatch
import Synchronization
import CaskStore

/// Thrown to a waiter whose flight's leader gave up because it was cancelled: the waiter was not,
/// so it tries again (and computes the result itself if nobody else is).
struct FlightAbandoned: Error {}

/// One computation in progress that other callers of the same key wait for.
final class Flight<Value: Sendable>: Sendable {
    struct State {
        var outcome: Result<Value, any Error>?
        var waiters: [UInt64: CheckedContinuation<Value, any Error>] = [:]
        /// Waiters cancelled before their continuation was registered.
        var cancelled: Set<UInt64> = []
        var nextWaiter: UInt64 = 0
        var blockedThreads = 0
        /// Signalled once per blocked thread when the outcome is known. Made by the first thread
        /// that blocks: most flights have no waiter, and a miss should not pay for it.
        var done: DispatchSemaphore?
    }

    let state = Locked(State())

    /// Publishes the leader's outcome. A failure of a cancelled leader (or a `CancellationError`)
    /// is not the waiters' outcome: they get ``FlightAbandoned`` and try again.
    func finish(_ outcome: Result<Value, any Error>, leaderCancelled: Bool) {
        var shared = outcome
        if case .failure(let error) = outcome, leaderCancelled || error is CancellationError {
            shared = .failure(FlightAbandoned())
        }
        let (waiters, blocked, done) = state.withLock { s -> ([CheckedContinuation<Value, any Error>], Int, DispatchSemaphore?) in
            s.outcome = shared
            defer { s.waiters = [:]; s.blockedThreads = 0 }
            return (s.waiters.isEmpty ? [] : Array(s.waiters.values), s.blockedThreads, s.done)
        }
        for w in waiters { w.resume(with: shared) }
        for _ in 0..<blocked { done?.signal() }
    }

    /// Blocks the calling thread until the outcome is known.
    func wait() throws -> Value {
        let (ready, done) = state.withLock { s -> (Result<Value, any Error>?, DispatchSemaphore?) in
            guard s.outcome == nil else { return (s.outcome, nil) }
            s.blockedThreads += 1
            if s.done == nil { s.done = DispatchSemaphore(value: 0) }
            return (nil, s.done)
        }
        if let ready { return try ready.get() }
        done!.wait()
        return try state.withLock { $0.outcome }!.get()
    }

    /// Suspends the calling task until the outcome is known; a cancelled task stops waiting at
    /// once with `CancellationError` (the computation goes on for the others).
    func value() async throws -> Value {
        let id = state.withLock { s in s.nextWaiter += 1; return s.nextWaiter }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { c in
                let ready = state.withLock { s -> Result<Value, any Error>? in
                    if let outcome = s.outcome { return outcome }
                    if s.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    s.waiters[id] = c
                    return nil
                }
                if let ready { c.resume(with: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Value, any Error>? in
                if let c = s.waiters.removeValue(forKey: id) { return c }
                if s.outcome == nil { s.cancelled.insert(id) }
                return nil
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}

/// The computations in progress in this process, by cache directory and call key: concurrent
/// callers of one key share one computation (single flight).
enum FlightBoard {
    static let flights = Locked<[FlightKey: any AnyObject & Sendable]>([:])

    /// The flight for `key`, and whether the caller is its leader (must compute and finish it).
    /// Nil if a flight of another result type runs under the same key (then compute alone).
    static func join<V: Sendable>(_ key: [UInt8], as: V.Type) -> (Flight<V>, leader: Bool)? {
        flights.withLock { all in
            if let running = all[FlightKey(key)] {
                return (running as? Flight<V>).map { ($0, false) }
            }
            let f = Flight<V>()
            all[FlightKey(key)] = f
            return (f, true)
        }
    }

    static func leave(_ key: [UInt8]) {
        _ = flights.withLock { $0.removeValue(forKey: FlightKey(key)) }
    }
}

/// A flight key as a dictionary key: hashed as one run of bytes (`[UInt8]`'s own hashing feeds
/// the hasher a byte at a time, which cost more than the rest of a lookup on every memoized miss).
struct FlightKey: Hashable, Sendable {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
}
