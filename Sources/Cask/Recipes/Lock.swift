import CaskStore
/// A lock shared by every thread and process that opens the same cache directory, for critical
/// sections that span processes (diskcache's `Lock`).
///
/// It is a `flock` on `<dir>/locks/<name>-<hash>.lock`: waiting sleeps in the kernel (no spinning),
/// and a process that dies while holding it releases it. Each acquisition opens its own descriptor,
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
    /// - Parameter timeout: Give up after this long with `.timedOut`; nil waits indefinitely.
    public func withLock<R>(timeout: Duration? = nil, _ body: () throws -> R) throws -> R {
        let held = try acquire(timeout: timeout)
        defer { held.release() }
        return try body()
    }

    /// As ``withLock(timeout:_:)-(_,()->R)``, waiting by polling with sleeps that suspend the task
    /// instead of blocking a thread.
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
/// the outermost ``withLock(_:)-(()->R)`` returns (diskcache's `RLock`).
///
/// The owner is the current task, or the current thread outside tasks: ownership is recorded in a
/// task-local value, so child tasks created inside the critical section count as the owner too
/// (they run while their parent waits for them, but not exclusively of each other).
public struct RLock: Sendable {
    /// The lock file.
    public let path: String

    @TaskLocal static var held: Set<String> = []

    public init(cache: Cache, name: String) throws {
        path = try cache.lockFilePath(Array("rlock-\(name)".utf8))
    }

    /// Runs `body` holding the lock, taking it unless the caller already holds it.
    public func withLock<R>(_ body: () throws -> R) throws -> R {
        if RLock.held.contains(path) { return try body() }
        let file = try LockFileHandle(path: path)
        try file.lock()
        defer { file.unlock() }
        return try RLock.$held.withValue(RLock.held.union([path])) { try body() }
    }

    /// Runs `body` holding the lock, taking it (without blocking a thread) unless the caller
    /// already holds it.
    public func withLock<R>(_ body: () async throws -> R) async throws -> R {
        if RLock.held.contains(path) { return try await body() }
        let file = try LockFileHandle(path: path)
        try await file.lockAsync()
        defer { file.unlock() }
        return try await RLock.$held.withValue(RLock.held.union([path])) { try await body() }
    }

    /// True if the current task or thread holds the lock.
    public var isHeldByCurrentOwner: Bool { RLock.held.contains(path) }
}
