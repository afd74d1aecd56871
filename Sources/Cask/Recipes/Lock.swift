#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CaskStore

/// A lock shared by every thread and process that opens the same cache directory, for critical
/// sections that span processes (diskcache's `Lock`).
///
/// It is a `flock` on `<dir>/locks/<name>-<hash>.lock`: waiting sleeps in the kernel (no spinning),
/// and a process that dies while holding it releases it.
///
/// Fairness: every waiter — blocking, with a timeout, or async — waits in a blocking `flock`, the
/// latter two on a helper thread, so all are queued by the kernel alike and a timed or async waiter
/// gets the lock under contention as often as a blocking one (none is starved by polling). A waiter
/// that times out or is cancelled abandons its wait; if the lock reaches it afterwards, it is
/// released at once. The kernel does not promise first-come, first-served order. Each acquisition opens its own descriptor,
/// so threads of one process exclude each other too. Not re-entrant: see ``RLock``.
///
/// ```swift
/// let lock = try Lock(cache: cache, name: "nightly-import")
/// try lock.withLock { try importEverything() }
/// ```
public struct Lock: Sendable {
    /// The lock file.
    public let path: String

    /// - Parameters:
    ///   - cache: The cache whose directory holds the lock file.
    ///   - name: Names the lock: every handle with this name on this directory is the same lock.
    public init(cache: Cache, name: String) throws {
        path = try cache.lockFilePath(Array("lock-\(name)".utf8))
    }

    /// Waits (blocking the thread) until the lock is free, takes it, runs `body`, releases it.
    /// - Parameters:
    ///   - timeout: Give up after this long with `.timedOut`; nil waits indefinitely.
    ///   - body: The critical section, run while the lock is held.
    public func withLock<R>(timeout: Duration? = nil, _ body: () throws -> R) throws -> R {
        let held = try acquire(timeout: timeout)
        defer { held.release() }
        return try body()
    }

    /// As ``withLock(timeout:_:)-(_,()->R)``, suspending the task instead of blocking its thread:
    /// a helper thread waits in the kernel's queue for the lock. Cancelling the task stops the wait
    /// with `CancellationError`.
    public func withLock<R>(timeout: Duration? = nil, _ body: () async throws -> R) async throws -> R {
        let file = try LockFileHandle(path: path)
        try await file.lockAsync(timeout: timeout)
        defer { file.unlock() }
        return try await body()
    }

    /// Takes the lock, waiting up to `timeout` (nil: indefinitely). Release the returned hold.
    public func acquire(timeout: Duration? = nil) throws -> HeldLock {
        let file = try LockFileHandle(path: path)
        if let timeout { try file.lock(timeout: timeout) } else { try file.lock() }
        return HeldLock(file: file)
    }

    /// Takes the lock only if it is free now; nil if it is held elsewhere.
    public func tryAcquire() throws -> HeldLock? {
        let file = try LockFileHandle(path: path)
        return try file.tryLock() ? HeldLock(file: file) : nil
    }
}

/// A lock taken with ``Lock/acquire(timeout:)``. Released by ``release()``, or when the hold is
/// deallocated, or when the process exits.
public final class HeldLock: Sendable {
    let file: LockFileHandle

    init(file: LockFileHandle) { self.file = file }

    /// Releases the lock (closing its descriptor would too; this makes it explicit).
    public func release() { file.unlock() }
}

/// A re-entrant ``Lock``: its owner may take it again while holding it, and it is released when
/// the outermost ``withLock(_:)-e12v`` returns (diskcache's `RLock`).
///
/// The owner is the acquiring context: for the synchronous ``withLock(_:)-e12v``, the thread
/// that took it; for the asynchronous one, the task that took it and the child tasks it creates
/// while it holds the lock (they run while their parent waits for them, but not exclusively of
/// each other). Every acquisition has its own token, recorded as the lock's current owner in this
/// process until it is released: a task created inside the critical section that runs after it,
/// or a task started from a synchronous section, is not the owner and takes the lock like anyone else.
public struct RLock: Sendable {
    /// The lock file.
    public let path: String

    /// The tokens of the async acquisitions the current task (or its parent) made, by lock path.
    @TaskLocal static var held: [String: UInt64] = [:]

    public init(cache: Cache, name: String) throws {
        path = try cache.lockFilePath(Array("rlock-\(name)".utf8))
    }

    /// Runs `body` holding the lock, taking it unless the caller already holds it.
    public func withLock<R>(_ body: () throws -> R) throws -> R {
        if isHeldByCurrentOwner { return try body() }
        let file = try LockFileHandle(path: path)
        try file.lock()
        defer { file.unlock() }
        let token = LockOwners.claim(path, thread: LockOwners.currentThread)
        defer { LockOwners.release(path, token) }
        return try body()
    }

    /// Runs `body` holding the lock, taking it (without blocking a thread) unless the caller
    /// already holds it.
    public func withLock<R>(_ body: () async throws -> R) async throws -> R {
        if isHeldByCurrentOwner { return try await body() }
        let file = try LockFileHandle(path: path)
        try await file.lockAsync()
        defer { file.unlock() }
        let token = LockOwners.claim(path, thread: nil)
        defer { LockOwners.release(path, token) }
        return try await LockOwners.withHeld(path, token, body)
    }

    /// True if the current thread (synchronous acquisition) or task (asynchronous acquisition)
    /// holds the lock.
    public var isHeldByCurrentOwner: Bool { LockOwners.isHeldByCurrentContext(path) }
}

/// Which acquisition holds each re-entrant lock in this process (at most one at a time: the
/// `flock` excludes the others).
enum LockOwners {
    struct Owner {
        var token: UInt64
        /// The owning thread of a synchronous acquisition; nil for an asynchronous one.
        var thread: UInt?
    }

    static let owners = Locked<(next: UInt64, byPath: [String: Owner])>((1, [:]))

    static var currentThread: UInt {
        #if canImport(Darwin)
        UInt(bitPattern: pthread_self())
        #else
        UInt(pthread_self())
        #endif
    }

    static func claim(_ path: String, thread: UInt?) -> UInt64 {
        owners.withLock { o in
            let token = o.next
            o.next += 1
            o.byPath[path] = Owner(token: token, thread: thread)
            return token
        }
    }

    static func release(_ path: String, _ token: UInt64) {
        owners.withLock { o in if o.byPath[path]?.token == token { o.byPath[path] = nil } }
    }

    static func owner(_ path: String) -> Owner? { owners.withLock { $0.byPath[path] } }

    /// True if the current thread holds `path` by a synchronous acquisition, or the current task
    /// (or its parent) by an asynchronous one that is still the current owner.
    static func isHeldByCurrentContext(_ path: String) -> Bool {
        guard let owner = owner(path) else { return false }
        if let thread = owner.thread { return thread == currentThread }
        return RLock.held[path] == owner.token
    }

    /// Runs `body` with `token` recorded in the task-local holds, so that the task and its child
    /// tasks count as the owner of `path`.
    static func withHeld<R>(_ path: String, _ token: UInt64, _ body: () async throws -> R) async rethrows -> R {
        var mine = RLock.held
        mine[path] = token
        return try await RLock.$held.withValue(mine) { try await body() }
    }
}
