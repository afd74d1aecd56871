import CaskStore
/// A function whose results are kept in a ``Cache``: a call with arguments seen before returns the
/// stored result instead of running the function. Made by
/// ``Cache/memoize(name:version:expire:tag:typed:validity:stampede:trackAccess:_:)``.
///
/// ```swift
/// let square = cache.memoize(name: "square") { (x: Int) in x * x }
/// let y = try square(12)      // computed and stored
/// let z = try square(12)      // read back, in this process or any other, until it is invalid
/// ```
///
/// A thrown error is never stored: the next call runs the function again. A result that cannot be
/// encoded throws ``CaskError`` (`.invalidArgument`) from the call that computed it.
public struct MemoizedFunction<Arguments, Output: Codable & Sendable>: Sendable {
    let core: MemoCore<Arguments, Output>
    let body: @Sendable (Arguments) throws -> Output

    /// The function's name: part of every key.
    public var name: String { core.name }
    /// The function's version: part of every key; bump it when the function's meaning changes.
    public var version: String { core.version }
    /// The cache the results live in.
    public var cache: Cache { core.cache }

    /// The stored result for `arguments` if it is valid, else the function's result (stored).
    /// - Throws: What the function throws (nothing is stored then); ``CaskError`` for an
    ///   argument or result that cannot be encoded, or a storage failure.
    public func callAsFunction(_ arguments: Arguments) throws -> Output {
        let key = try core.key(arguments)
        let (found, info) = try core.lookup(key, countHit: true)
        if case .hit(let v) = found { return v }
        return try shared(key, arguments, force: false, seen: info?.computedAt)
    }

    /// Runs the function for `arguments` even if a valid result is stored, and stores the result.
    @discardableResult
    public func recompute(_ arguments: Arguments) throws -> Output {
        let key = try core.key(arguments)
        return try shared(key, arguments, force: true, seen: nil)
    }

    /// The canonical key of the call with `arguments` (`j` + JSON of `{"fn", "t", "v", "x"}` with sorted keys; see Design.md): the same
    /// bytes in every process and run.
    public func key(for arguments: Arguments) throws -> [UInt8] { try core.key(arguments) }

    /// True if a result for `arguments` is stored and passes the validity policies now.
    public func isCached(_ arguments: Arguments) throws -> Bool { try core.isCached(arguments) }

    /// The metadata of the stored result for `arguments`, valid or not; nil if none is stored.
    public func info(for arguments: Arguments) throws -> MemoEntryInfo? { try core.info(arguments) }

    /// Removes every stored result of this function: all arguments and all versions. Returns how many.
    @discardableResult
    public func clear() throws -> Int { try core.clear() }

    /// Computes through the single flight. `recompute` (force) never waits for a running normal
    /// call: it must run the function, so it computes on its own.
    func shared(_ key: [UInt8], _ arguments: Arguments, force: Bool, seen: Double?) throws -> Output {
        let fk = core.flightKey(key)
        while true {
            guard core.stampede.singleFlight, !force, let (flight, leader) = FlightBoard.join(fk, as: Output.self) else {
                return try locked(key, arguments, force: force, seen: seen)
            }
            guard leader else {
                do { return try flight.wait() } catch is FlightAbandoned { continue }
            }
            defer { FlightBoard.leave(fk) }
            let outcome = Result { try locked(key, arguments, force: force, seen: seen) }
            flight.finish(outcome, leaderCancelled: withUnsafeCurrentTask { $0?.isCancelled ?? false })
            return try outcome.get()
        }
    }

    func locked(_ key: [UInt8], _ arguments: Arguments, force: Bool, seen: Double?) throws -> Output {
        guard core.stampede.crossProcessLock else { return try compute(key, arguments) }
        let path = try core.lockPath(key)
        // This thread already holds the stripe (a memoized call inside a memoized call).
        if LockOwners.isHeldByCurrentContext(path) { return try underLock(key, arguments, force: force, seen: seen) }
        let lock = try LockFileHandle(path: path)
        if try !lock.tryLock() {
            if !force && core.stampede.serveStale {
                switch try core.lookup(key, countHit: false, early: false).0 {
                case .hit(let v), .stale(let v): return v
                case .miss: break
                }
            }
            try lock.lock()
        }
        defer { lock.unlock() }
        let token = LockOwners.claim(path, thread: LockOwners.currentThread)
        defer { LockOwners.release(path, token) }
        return try underLock(key, arguments, force: force, seen: seen)
    }

    func underLock(_ key: [UInt8], _ arguments: Arguments, force: Bool, seen: Double?) throws -> Output {
        // Another process may have stored a result while this one waited.
        if !force, case (.hit(let v), let info) = try core.lookup(key, countHit: false, early: false), info?.computedAt != seen {
            return v
        }
        return try compute(key, arguments)
    }

    func compute(_ key: [UInt8], _ arguments: Arguments) throws -> Output {
        let fingerprints = try core.fingerprints()
        let start = core.cache.now
        let value = try body(arguments)
        try core.save(key, value, computedAt: start, finishedAt: core.cache.now, fingerprints: fingerprints)
        return value
    }
}

/// An `async` function whose results are kept in a ``Cache``; see ``MemoizedFunction``.
///
/// ```swift
/// let load = cache.memoize(name: "load-customer", version: "2") { (id: Int) async throws -> Report in
///     try await api.report(for: id)
/// }
/// let report = try await load(42)
/// ```
public struct AsyncMemoizedFunction<Arguments, Output: Codable & Sendable>: Sendable {
    let core: MemoCore<Arguments, Output>
    let body: @Sendable (Arguments) async throws -> Output

    /// The function's name: part of every key.
    public var name: String { core.name }
    /// The function's version: part of every key.
    public var version: String { core.version }
    /// The cache the results live in.
    public var cache: Cache { core.cache }

    /// The stored result for `arguments` if it is valid, else the function's result (stored).
    /// Concurrent callers of one call share one computation; waiting suspends, never blocks a
    /// thread of the cooperative pool (reads and writes of the store, which may wait for a shard's
    /// lock, run on a dispatch queue).
    public func callAsFunction(_ arguments: Arguments) async throws -> Output {
        let key = try core.key(arguments)
        let core = core
        let (found, info) = try await core.cache.offload { try core.lookup(key, countHit: true) }
        if case .hit(let v) = found { return v }
        return try await shared(key, arguments, force: false, seen: info?.computedAt)
    }

    /// Runs the function for `arguments` even if a valid result is stored, and stores the result.
    @discardableResult
    public func recompute(_ arguments: Arguments) async throws -> Output {
        try await shared(core.key(arguments), arguments, force: true, seen: nil)
    }

    /// The canonical key of the call with `arguments`.
    public func key(for arguments: Arguments) throws -> [UInt8] { try core.key(arguments) }

    /// True if a result for `arguments` is stored and passes the validity policies now.
    public func isCached(_ arguments: Arguments) throws -> Bool { try core.isCached(arguments) }

    /// The metadata of the stored result for `arguments`, valid or not; nil if none is stored.
    public func info(for arguments: Arguments) throws -> MemoEntryInfo? { try core.info(arguments) }

    /// Removes every stored result of this function: all arguments and all versions. Returns how many.
    @discardableResult
    public func clear() throws -> Int { try core.clear() }

    /// Computes through the single flight: a waiter whose leader was cancelled tries again; a
    /// cancelled waiter stops waiting at once; `recompute` (force) never waits for a normal call.
    func shared(_ key: [UInt8], _ arguments: Arguments, force: Bool, seen: Double?) async throws -> Output {
        let fk = core.flightKey(key)
        while true {
            guard core.stampede.singleFlight, !force, let (flight, leader) = FlightBoard.join(fk, as: Output.self) else {
                return try await locked(key, arguments, force: force, seen: seen)
            }
            guard leader else {
                do { return try await flight.value() } catch is FlightAbandoned { continue }
            }
            defer { FlightBoard.leave(fk) }
            let outcome: Result<Output, any Error>
            do { outcome = .success(try await locked(key, arguments, force: force, seen: seen)) } catch { outcome = .failure(error) }
            flight.finish(outcome, leaderCancelled: Task.isCancelled)
            return try outcome.get()
        }
    }

    func locked(_ key: [UInt8], _ arguments: Arguments, force: Bool, seen: Double?) async throws -> Output {
        guard core.stampede.crossProcessLock else { return try await compute(key, arguments) }
        let path = try core.lockPath(key)
        if LockOwners.isHeldByCurrentContext(path) { return try await underLock(key, arguments, force: force, seen: seen) }
        let lock = try LockFileHandle(path: path)
        if try !lock.tryLock() {
            if !force && core.stampede.serveStale {
                switch try await offloadedLookup(key) {
                case .hit(let v), .stale(let v): return v
                case .miss: break
                }
            }
            try await lock.lockAsync()
        }
        defer { lock.unlock() }
        let token = LockOwners.claim(path, thread: nil)
        defer { LockOwners.release(path, token) }
        return try await LockOwners.withHeld(path, token) { try await underLock(key, arguments, force: force, seen: seen) }
    }

    /// The stored result, judged without counting a hit, read off the cooperative pool.
    func offloadedLookup(_ key: [UInt8]) async throws -> MemoCore<Arguments, Output>.Lookup {
        let core = core
        return try await core.cache.offload { try core.lookup(key, countHit: false, early: false).0 }
    }

    func underLock(_ key: [UInt8], _ arguments: Arguments, force: Bool, seen: Double?) async throws -> Output {
        let core = core
        if !force, case (.hit(let v), let info) = try await core.cache.offload({ try core.lookup(key, countHit: false, early: false) }),
           info?.computedAt != seen {
            return v
        }
        return try await compute(key, arguments)
    }

    func compute(_ key: [UInt8], _ arguments: Arguments) async throws -> Output {
        let core = core
        let fingerprints = try await core.cache.offload { try core.fingerprints() }
        let start = core.cache.now
        let value = try await body(arguments)
        let finished = core.cache.now
        try await core.cache.offload { try core.save(key, value, computedAt: start, finishedAt: finished, fingerprints: fingerprints) }
        return value
    }
}
