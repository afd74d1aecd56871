#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CaskStore

/// At most `limit` holders at once, across every thread and process that opens the cache directory
/// (diskcache's `BoundedSemaphore`).
///
/// Each of the `limit` permits is a lock file (`<dir>/locks/sem-<name>.<i>-<hash>.lock`); acquiring
/// tries each with `flock(LOCK_EX | LOCK_NB)`, starting at a random one, and sleeps (0.5 ms doubling
/// to 16 ms) between rounds. A holder that dies gives its permit back with its descriptor, so no
/// count can leak. Every handle on one semaphore must use the same `limit`.
public struct BoundedSemaphore: Sendable {
    public let limit: Int
    let paths: [String]

    public init(cache: Cache, name: String, limit: Int) throws {
        guard limit >= 1 else { throw CaskError(.invalidArgument, "a semaphore needs a limit of at least 1") }
        self.limit = limit
        paths = try (0..<limit).map { try cache.lockFilePath(Array("sem-\(name).\($0)".utf8)) }
    }

    /// Takes a permit if one is free now.
    public func tryAcquire() throws -> HeldLock? {
        let start = Int.random(in: 0..<limit)
        for i in 0..<limit {
            let file = try LockFileHandle(path: paths[(start + i) % limit])
            if try file.tryLock() { return HeldLock(file: file) }
        }
        return nil
    }

    /// Waits (sleeping the thread) for a permit; `.timedOut` after `timeout` if given.
    public func acquire(timeout: Duration? = nil) throws -> HeldLock {
        let begin = ContinuousClock.now
        var pause: UInt32 = 500
        while true {
            if let held = try tryAcquire() { return held }
            if let timeout, ContinuousClock.now - begin >= timeout {
                throw CaskError(.timedOut, "no permit of the semaphore within \(timeout)")
            }
            usleep(pause)
            pause = min(pause * 2, 16_000)
        }
    }

    /// Runs `body` holding a permit.
    public func withPermit<R>(timeout: Duration? = nil, _ body: () throws -> R) throws -> R {
        let held = try acquire(timeout: timeout)
        defer { held.release() }
        return try body()
    }

    /// Runs `body` holding a permit, waiting with task sleeps instead of blocking a thread.
    public func withPermit<R>(timeout: Duration? = nil, _ body: () async throws -> R) async throws -> R {
        let begin = ContinuousClock.now
        var pause = Duration.microseconds(500)
        while true {
            if let held = try tryAcquire() {
                defer { held.release() }
                return try await body()
            }
            if let timeout, ContinuousClock.now - begin >= timeout {
                throw CaskError(.timedOut, "no permit of the semaphore within \(timeout)")
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(16))
        }
    }
}
