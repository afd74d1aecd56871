import Dispatch
import Synchronization
import CaskStore

/// One computation in progress that other callers of the same key wait for.
final class Flight<Value: Sendable>: Sendable {
    struct State {
        var outcome: Result<Value, any Error>?
        var waiters: [CheckedContinuation<Value, any Error>] = []
        var blockedThreads = 0
    }

    let state = Locked(State())
    /// Signalled once per blocked thread when the outcome is known.
    let done = DispatchSemaphore(value: 0)

    func finish(_ outcome: Result<Value, any Error>) {
        let (waiters, blocked) = state.withLock { s -> ([CheckedContinuation<Value, any Error>], Int) in
            s.outcome = outcome
            defer { s.waiters = []; s.blockedThreads = 0 }
            return (s.waiters, s.blockedThreads)
        }
        for w in waiters { w.resume(with: outcome) }
        for _ in 0..<blocked { done.signal() }
    }

    /// Blocks the calling thread until the outcome is known.
    func wait() throws -> Value {
        let ready = state.withLock { s -> Result<Value, any Error>? in
            if s.outcome == nil { s.blockedThreads += 1 }
            return s.outcome
        }
        if let ready { return try ready.get() }
        done.wait()
        return try state.withLock { $0.outcome }!.get()
    }

    /// Suspends the calling task until the outcome is known.
    func value() async throws -> Value {
        try await withCheckedThrowingContinuation { c in
            let ready = state.withLock { s -> Result<Value, any Error>? in
                if s.outcome == nil { s.waiters.append(c) }
                return s.outcome
            }
            if let ready { c.resume(with: ready) }
        }
    }
}

/// The computations in progress in this process, by cache directory and call key: concurrent
/// callers of one key share one computation (single flight).
enum FlightBoard {
    static let flights = Locked<[[UInt8]: any AnyObject & Sendable]>([:])

    /// The flight for `key`, and whether the caller is its leader (must compute and finish it).
    /// Nil if a flight of another result type runs under the same key (then compute alone).
    static func join<V: Sendable>(_ key: [UInt8], as: V.Type) -> (Flight<V>, leader: Bool)? {
        flights.withLock { all in
            if let running = all[key] {
                return (running as? Flight<V>).map { ($0, false) }
            }
            let f = Flight<V>()
            all[key] = f
            return (f, true)
        }
    }

    static func leave(_ key: [UInt8]) {
        _ = flights.withLock { $0.removeValue(forKey: key) }
    }
}
