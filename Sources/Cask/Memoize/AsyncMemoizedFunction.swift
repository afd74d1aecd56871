import CaskStore
/// An `async` function whose results are kept in a ``Cache``; see ``MemoizedFunction``.
///
/// ```swift
/// let load = cache.memoize(name: "load-customer", version: "2") { (id: Int) async throws -> Report in
///     try await api.report(for: id)
/// }
/// let report = try await load(42)
/// ```
public struct AsyncMemoizedFunction<each A, Output: Codable & Sendable>: Sendable {
    let core: MemoCore<(repeat each A), Output>
    /// The function; it receives this value, through which it may call itself.
    let body: @Sendable (AsyncMemoizedFunction<repeat each A, Output>, repeat each A) async throws -> Output

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
    public func callAsFunction(_ arguments: repeat each A) async throws -> Output {
        let key = try core.key((repeat each arguments))
        let core = core
        let (found, info) = try await core.cache.offload { try core.lookup(key, countHit: true, wantInfo: false) }
        if case .hit(let v) = found { return v }
        return try await shared(key, force: false, seen: info?.computedAt, repeat each arguments)
    }

    /// Runs the function for `arguments` even if a valid result is stored, and stores the result.
    @discardableResult
    public func recompute(_ arguments: repeat each A) async throws -> Output {
        let key = try core.key((repeat each arguments))
        return try await shared(key, force: true, seen: nil, repeat each arguments)
    }

    /// The canonical key of the call with `arguments`.
    public func key(for arguments: repeat each A) throws -> [UInt8] { try core.key((repeat each arguments)) }

    /// True if a result for `arguments` is stored and passes the validity policies now.
    public func isCached(_ arguments: repeat each A) throws -> Bool { try core.isCached((repeat each arguments)) }

    /// The metadata of the stored result for `arguments`, valid or not; nil if none is stored.
    public func info(for arguments: repeat each A) throws -> MemoEntryInfo? { try core.info((repeat each arguments)) }

    /// Removes every stored result of this function: all arguments and all versions. Returns how many.
    @discardableResult
    public func clear() throws -> Int { try core.clear() }

    /// Computes through the single flight: a waiter whose leader was cancelled tries again; a
    /// cancelled waiter stops waiting at once; `recompute` (force) never waits for a normal call.
    func shared(_ key: [UInt8], force: Bool, seen: Double?, _ arguments: repeat each A) async throws -> Output {
        let fk = core.flightKey(key)
        let link = try MemoCallChain.enter(fk, function: core.name)
        return try await MemoCallChain.$current.withValue(link) {
            while true {
                guard core.stampede.singleFlight, !force, let (flight, leader) = FlightBoard.join(fk, as: Output.self) else {
                    return try await locked(key, force: force, seen: seen, repeat each arguments)
                }
                guard leader else {
                    do {
                        return try await MemoWaits.waiting(for: fk, by: link.parent, function: core.name) { try await flight.value() }
                    } catch is FlightAbandoned { continue }
                }
                defer { FlightBoard.leave(fk) }
                let outcome: Result<Output, any Error>
                do {
                    outcome = .success(try await MemoWaits.leading(link) { try await locked(key, force: force, seen: seen, repeat each arguments) })
                } catch { outcome = .failure(error) }
                flight.finish(outcome, leaderCancelled: Task.isCancelled)
                return try outcome.get()
            }
        }
    }

    func locked(_ key: [UInt8], force: Bool, seen: Double?, _ arguments: repeat each A) async throws -> Output {
        guard core.stampede.crossProcessLock else { return try await compute(key, force: force, repeat each arguments) }
        let path = try core.lockPath(key)
        if LockOwners.isHeldByCurrentContext(path) { return try await underLock(key, force: force, seen: seen, repeat each arguments) }
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
        return try await LockOwners.withHeld(path, token) { try await underLock(key, force: force, seen: seen, repeat each arguments) }
    }

    /// The stored result, judged without counting a hit, read off the cooperative pool.
    func offloadedLookup(_ key: [UInt8]) async throws -> MemoCore<(repeat each A), Output>.Lookup {
        let core = core
        return try await core.cache.offload { try core.lookup(key, countHit: false, early: false, wantInfo: false).0 }
    }

    func underLock(_ key: [UInt8], force: Bool, seen: Double?, _ arguments: repeat each A) async throws -> Output {
        let core = core
        if !force, case (.hit(let v), let info) = try await core.cache.offload({ try core.lookup(key, countHit: false, early: false) }),
           info?.computedAt != seen {
            return v
        }
        return try await compute(key, force: force, repeat each arguments)
    }

    /// As ``MemoizedFunction``'s: the tier's calls run off the cooperative pool, and the wait for
    /// another's lease sleeps the task (cancellation ends it).
    func compute(_ key: [UInt8], force: Bool, _ arguments: repeat each A) async throws -> Output {
        let core = core
        guard let tier = core.cache.secondTier else { return try await run(key, repeat each arguments) }
        if !force {
            let token = MemoCore<(repeat each A), Output>.leaseToken()
            let since = ContinuousClock.now
            waiting: while true {
                switch try await core.cache.offload({ try core.tierStep(tier, key, token: token, waitingSince: since) }) {
                case .serve(let v): return v
                case .compute(let leased):
                    do {
                        let value = try await run(key, repeat each arguments)
                        try await core.cache.offload {
                            tier.publish(rawKey: key)
                            if leased { tier.releaseLease(rawKey: key, token: token) }
                        }
                        return value
                    } catch {
                        if leased { try? await core.cache.offload { tier.releaseLease(rawKey: key, token: token) } }
                        throw error
                    }
                case .wait:
                    try await Task.sleep(for: MemoCore<(repeat each A), Output>.tierPollInterval)
                    continue waiting
                }
            }
        }
        let value = try await run(key, repeat each arguments)
        try await core.cache.offload { tier.publish(rawKey: key) }
        return value
    }

    func run(_ key: [UInt8], _ arguments: repeat each A) async throws -> Output {
        let core = core
        let fingerprints = try await core.cache.offload { try core.fingerprints() }
        let start = core.cache.now
        let value = try await body(self, repeat each arguments)
        let finished = core.cache.now
        try await core.cache.offload { try core.save(key, value, computedAt: start, finishedAt: finished, fingerprints: fingerprints) }
        return value
    }
}

extension AsyncMemoizedFunction {
    /// The body of a function that does not call itself; see ``MemoizedFunction``'s.
    static func ignoringItself(_ body: @escaping @Sendable (repeat each A) async throws -> Output)
        -> @Sendable (AsyncMemoizedFunction<repeat each A, Output>, repeat each A) async throws -> Output {
        { (_: AsyncMemoizedFunction<repeat each A, Output>, a: repeat each A) in try await body(repeat each a) }
    }
}
