#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CaskStore
/// A function whose results are kept in a ``Cache``: a call with arguments seen before returns the
/// stored result instead of running the function. Made by
/// ``Cache/memoize(name:version:expire:tag:typed:validity:stampede:trackAccess:_:)->MemoizedFunction<A,Output>``; it takes any
/// number of arguments (`A` is their types, in order), called as the function would be.
///
/// ```swift
/// let square = cache.memoize(name: "square") { (x: Int) in x * x }
/// let y = try square(12)      // computed and stored
/// let z = try square(12)      // read back, in this process or any other, until it is invalid
/// ```
///
/// A thrown error is never stored: the next call runs the function again. A result that cannot be
/// encoded throws ``CaskError`` (`.invalidArgument`) from the call that computed it. A call that,
/// while its result is being computed, calls the function again with the same arguments throws
/// `.invalidArgument` (it would otherwise wait for itself, or never end).
public struct MemoizedFunction<each A, Output: Codable & Sendable>: Sendable {
    let core: MemoCore<(repeat each A), Output>
    /// The function; it receives this value, through which it may call itself.
    let body: @Sendable (MemoizedFunction<repeat each A, Output>, repeat each A) throws -> Output

    /// The function's name: part of every key.
    public var name: String { core.name }
    /// The function's version: part of every key; bump it when the function's meaning changes.
    public var version: String { core.version }
    /// The cache the results live in.
    public var cache: Cache { core.cache }

    /// The stored result for `arguments` if it is valid, else the function's result (stored).
    /// - Throws: What the function throws (nothing is stored then); ``CaskError`` for an
    ///   argument or result that cannot be encoded, a recursive call with the same arguments, or a
    ///   storage failure.
    public func callAsFunction(_ arguments: repeat each A) throws -> Output {
        let key = try core.key((repeat each arguments))
        let (found, info) = try core.lookup(key, countHit: true, wantInfo: false)
        if case .hit(let v) = found { return v }
        return try shared(key, force: false, seen: info?.computedAt, repeat each arguments)
    }

    /// Runs the function for `arguments` even if a valid result is stored, and stores the result.
    @discardableResult
    public func recompute(_ arguments: repeat each A) throws -> Output {
        let key = try core.key((repeat each arguments))
        return try shared(key, force: true, seen: nil, repeat each arguments)
    }

    /// The canonical key of the call with `arguments` (`j` + JSON of `{"fn", "t", "v", "x"}` with
    /// sorted keys, `x` the argument itself for one argument, else the array of the arguments in
    /// order; see Design.md): the same bytes in every process and run.
    public func key(for arguments: repeat each A) throws -> [UInt8] { try core.key((repeat each arguments)) }

    /// True if a result for `arguments` is stored and passes the validity policies now.
    public func isCached(_ arguments: repeat each A) throws -> Bool { try core.isCached((repeat each arguments)) }

    /// The metadata of the stored result for `arguments`, valid or not; nil if none is stored.
    public func info(for arguments: repeat each A) throws -> MemoEntryInfo? { try core.info((repeat each arguments)) }

    /// Removes every stored result of this function: all arguments and all versions. Returns how many.
    @discardableResult
    public func clear() throws -> Int { try core.clear() }

    /// Computes through the single flight. `recompute` (force) never waits for a running normal
    /// call: it must run the function, so it computes on its own.
    func shared(_ key: [UInt8], force: Bool, seen: Double?, _ arguments: repeat each A) throws -> Output {
        let fk = core.flightKey(key)
        let link = try MemoCallChain.enter(fk, function: core.name)
        return try MemoCallChain.$current.withValue(link) {
            while true {
                guard core.stampede.singleFlight, !force, let (flight, leader) = FlightBoard.join(fk, as: Output.self) else {
                    return try locked(key, force: force, seen: seen, repeat each arguments)
                }
                guard leader else {
                    do {
                        return try MemoWaits.waiting(for: fk, by: link.parent, function: core.name) { try flight.wait() }
                    } catch is FlightAbandoned { continue }
                }
                defer { FlightBoard.leave(fk) }
                let outcome = MemoWaits.leading(link) { Result { try locked(key, force: force, seen: seen, repeat each arguments) } }
                flight.finish(outcome, leaderCancelled: withUnsafeCurrentTask { $0?.isCancelled ?? false })
                return try outcome.get()
            }
        }
    }

    func locked(_ key: [UInt8], force: Bool, seen: Double?, _ arguments: repeat each A) throws -> Output {
        guard core.stampede.crossProcessLock else { return try compute(key, force: force, repeat each arguments) }
        let path = try core.lockPath(key)
        // This thread already holds the stripe (a memoized call inside a memoized call).
        if LockOwners.isHeldByCurrentContext(path) { return try underLock(key, force: force, seen: seen, repeat each arguments) }
        let lock = try LockFileHandle(path: path)
        if try !lock.tryLock() {
            if !force && core.stampede.serveStale {
                switch try core.lookup(key, countHit: false, early: false, wantInfo: false).0 {
                case .hit(let v), .stale(let v): return v
                case .miss: break
                }
            }
            try lock.lock()
        }
        defer { lock.unlock() }
        let token = LockOwners.claim(path, thread: LockOwners.currentThread)
        defer { LockOwners.release(path, token) }
        return try underLock(key, force: force, seen: seen, repeat each arguments)
    }

    func underLock(_ key: [UInt8], force: Bool, seen: Double?, _ arguments: repeat each A) throws -> Output {
        // Another process may have stored a result while this one waited.
        if !force, case (.hit(let v), let info) = try core.lookup(key, countHit: false, early: false), info?.computedAt != seen {
            return v
        }
        return try compute(key, force: force, repeat each arguments)
    }

    /// Computes and stores — with a second tier, unless forced, after looking there and under its
    /// lease (``MemoCore/tierStep(_:_:token:waitingSince:)``); what is computed is published.
    func compute(_ key: [UInt8], force: Bool, _ arguments: repeat each A) throws -> Output {
        guard let tier = core.cache.secondTier else { return try run(key, repeat each arguments) }
        if !force {
            let token = MemoCore<(repeat each A), Output>.leaseToken()
            let since = ContinuousClock.now
            waiting: while true {
                switch try core.tierStep(tier, key, token: token, waitingSince: since) {
                case .serve(let v): return v
                case .compute(let leased):
                    defer { if leased { tier.releaseLease(rawKey: key, token: token) } }
                    let value = try run(key, repeat each arguments)
                    tier.publish(rawKey: key)
                    return value
                case .wait:
                    let (s, a) = MemoCore<(repeat each A), Output>.tierPollInterval.components
                    usleep(UInt32(s * 1_000_000 + a / 1_000_000_000_000))
                    continue waiting
                }
            }
        }
        let value = try run(key, repeat each arguments)
        tier.publish(rawKey: key)
        return value
    }

    func run(_ key: [UInt8], _ arguments: repeat each A) throws -> Output {
        let fingerprints = try core.fingerprints()
        let start = core.cache.now
        let value = try body(self, repeat each arguments)
        try core.save(key, value, computedAt: start, finishedAt: core.cache.now, fingerprints: fingerprints)
        return value
    }
}

extension MemoizedFunction {
    /// The body of a function that does not call itself. (Made here, where the argument types
    /// carry no conformance the closure would have to capture.)
    static func ignoringItself(_ body: @escaping @Sendable (repeat each A) throws -> Output)
        -> @Sendable (MemoizedFunction<repeat each A, Output>, repeat each A) throws -> Output {
        { (_: MemoizedFunction<repeat each A, Output>, a: repeat each A) in try body(repeat each a) }
    }
}
