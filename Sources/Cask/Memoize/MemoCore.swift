#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CaskStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How a memoized function protects itself from many callers computing the same result at once.
public struct StampedeProtection: Sendable, Equatable {
    /// Concurrent callers of one call in this process share one computation (default on). They
    /// also share its error, if it throws.
    public var singleFlight: Bool
    /// On a miss, take a lock file (`<dir>/locks/memo-stripe-<i>-….lock`, `flock`) so that one
    /// process computes while the others wait for its result (default off). Calls share a fixed
    /// pool of 256 lock files by key hash, so unrelated calls on one stripe also wait for each other;
    /// a memoized function calling another whose key falls on the stripe it holds proceeds.
    public var crossProcessLock: Bool
    /// With ``crossProcessLock``: a caller that finds the lock held and a stale result (one that
    /// no longer passes the validity policies) returns the stale result instead of waiting. Stale
    /// results are then kept past their time-based validity (until `expire`). Without
    /// ``crossProcessLock`` this has no effect: nothing is served stale, and results expire from
    /// the store at their earliest time-based limit as usual.
    public var serveStale: Bool
    /// Early probabilistic recomputation (Vattani et al. 2015, "XFetch"): a hit is recomputed when
    /// `now − delta × beta × ln(random()) ≥ expiry`, where delta is the stored compute duration and
    /// expiry the earliest time-based limit (`expire`, ``ValidityPolicy/expires(after:)``, a calendar
    /// period). `beta` 1 is the paper's default; larger recomputes earlier. Nil (default): off.
    public var earlyRecomputationBeta: Double?

    /// With a ``SecondTier`` attached to the cache: how long a lease in the tier on computing a
    /// call lasts. A call that misses locally and in the tier takes the lease and computes; the
    /// callers on other machines (or processes) that miss meanwhile wait for its result, looking in
    /// the tier every 20 ms, and compute themselves if the tier does not answer or after twice
    /// the lease. A holder that dies is replaced when its lease expires; a computation longer
    /// than the lease may run on two machines. Nil: no lease, every machine that misses computes.
    public var sharedLease: Duration?

    public init(singleFlight: Bool = true, crossProcessLock: Bool = false, serveStale: Bool = false,
                earlyRecomputationBeta: Double? = nil, sharedLease: Duration? = .seconds(30)) {
        self.singleFlight = singleFlight
        self.crossProcessLock = crossProcessLock
        self.serveStale = serveStale
        self.earlyRecomputationBeta = earlyRecomputationBeta
        self.sharedLease = sharedLease
    }
}

/// What a memoized function is: everything but its body. Shared by the sync and async wrappers.
/// A class: the wrappers are generic over their argument types and called from other modules
/// unspecialized, where every use of a struct this size copied it field by field (a retain each).
final class MemoCore<Arguments, Output: Codable & Sendable>: Sendable {
    let cache: Cache
    let name: String
    let version: String
    let expire: Expiry?
    let tag: String?
    let validity: [ValidityPolicy]
    let stampede: StampedeProtection
    let trackAccess: Bool
    let keyer: any MemoKeying<Arguments>

    init(cache: Cache, name: String, version: String, expire: Expiry?, tag: String?, validity: [ValidityPolicy],
         stampede: StampedeProtection, trackAccess: Bool, keyer: any MemoKeying<Arguments>) {
        self.cache = cache
        self.name = name
        self.version = version
        self.expire = expire
        self.tag = tag
        self.validity = validity
        self.stampede = stampede
        self.trackAccess = trackAccess
        self.keyer = keyer
    }

    enum Lookup {
        /// Valid: serve it.
        case hit(Output)
        /// Stored but no longer valid (or due for early recomputation): recompute; may be served
        /// while another process recomputes.
        case stale(Output)
        case miss
    }

    var engineTag: String { tag ?? "memo:" + name }

    func key(_ arguments: Arguments) throws -> [UInt8] { try keyer.key(arguments) }

    /// True if a result for `arguments` is stored and passes the validity policies now.
    func isCached(_ arguments: Arguments) throws -> Bool {
        if case .hit = try lookup(key(arguments), countHit: false, early: false, wantInfo: false).0 { return true }
        return false
    }

    /// The metadata of the stored result for `arguments`, valid or not.
    func info(_ arguments: Arguments) throws -> MemoEntryInfo? {
        try lookup(key(arguments), countHit: false, early: false).1
    }

    /// Reads and judges the stored result of `key`. The metadata is made only when it is used: for
    /// the validity policies, for a result that is not a hit, or when `wantInfo`.
    func lookup(_ key: [UInt8], countHit: Bool, early: Bool = true, wantInfo: Bool = true) throws -> (Lookup, MemoEntryInfo?) {
        let now = cache.now
        // The tag is copied out only for the metadata, which a plain hit does not make.
        let needsInfo = wantInfo || !validity.isEmpty || (early && stampede.earlyRecomputationBeta != nil)
        guard let (stored, expireTime, tagBytes, _) = try cache.storedEntry(key, now: now, withTag: needsInfo) else { return (.miss, nil) }
        let (encoding, bytes) = try cache.materialize(stored)
        guard encoding == .bytes, let envelope = MemoEnvelope(bytes), envelope.version == version else { return (.miss, nil) }
        let value: Output
        do {
            value = try envelope.decodeResult(Output.self, coder: cache.coder)
        } catch {
            // The result type changed without a version bump: compute again and overwrite.
            return (.miss, nil)
        }
        func makeInfo() throws -> MemoEntryInfo {
            var info = MemoEntryInfo(computedAt: Double(envelope.computedAt) / 1e6, lastAccess: nil, hits: 0,
                                     computeDuration: Double(envelope.computeDuration) / 1e6,
                                     argumentsKey: String(decoding: key.dropFirst(), as: UTF8.self),
                                     tag: tagBytes.isEmpty ? nil : String(decoding: tagBytes, as: UTF8.self),
                                     version: envelope.version)
            if trackAccess, let (hits, last) = try readAccess(key) {
                info.hits = Int(hits)
                info.lastAccess = Double(last) / 1e6
            }
            return info
        }
        var info: MemoEntryInfo?
        if !validity.isEmpty {
            let made = try makeInfo()
            info = made
            let context = ValidityContext(now: now, entry: made, computedAt: envelope.computedAt)
            for policy in validity {
                let rule = policy.rule
                if try !rule.isValid(witness: envelope.witnesses.witness(named: rule.witnessName), context) { return (.stale(value), made) }
            }
        }
        if early, let beta = stampede.earlyRecomputationBeta {
            var horizon = expireTime == 0 ? Int64.max : expireTime
            for p in validity { if let h = p.horizon(computedAt: envelope.computedAt) { horizon = min(horizon, h) } }
            if horizon != .max {
                let u = Double.random(in: Double.leastNonzeroMagnitude...1)
                let gap = Double(envelope.computeDuration) * beta * -log(u)
                if Double(now) + gap >= Double(horizon) { return (.stale(value), try info ?? makeInfo()) }
            }
        }
        if wantInfo && info == nil { info = try makeInfo() }
        if countHit && trackAccess { try recordAccess(key, now: now) }
        return (.hit(value), info)
    }

    /// The policies' witnesses, taken before computing (a change during the computation then
    /// invalidates the result at the next call). (Named for the source-file fingerprints, the
    /// first kind of witness.)
    /// - Throws: What a rule throws while taking its witness.
    func fingerprints() throws -> MemoWitnesses {
        let context = ValidityContext(now: cache.now)
        var items: [(name: String, bytes: [UInt8])] = []
        for policy in validity {
            let name = policy.rule.witnessName
            guard !items.contains(where: { $0.name == name }), let w = try policy.rule.witness(context) else { continue }
            items.append((name, w))
        }
        return MemoWitnesses(items)
    }

    /// Stores a computed result.
    /// - Throws: `.invalidArgument` if the result cannot be encoded; engine errors.
    func save(_ key: [UInt8], _ value: Output, computedAt: Int64, finishedAt: Int64, fingerprints: MemoWitnesses) throws {
        let (encoding, bytes) = try MemoEnvelope.encodeResult(value, coder: cache.coder)
        let envelope = MemoEnvelope(resultEncoding: encoding, version: version, computedAt: computedAt,
                                    computeDuration: max(0, finishedAt - computedAt), witnesses: fingerprints, result: bytes)
        // Without stale serving, a record outlives no time-based policy: the engine removes it then.
        // (Stale results are served only with the cross-process lock: without it they are not kept.)
        var end = try expire.flatMap { try $0.expireTime(from: computedAt) } ?? Int64.max
        if !(stampede.serveStale && stampede.crossProcessLock) {
            for p in validity { if let h = p.horizon(computedAt: computedAt) { end = min(end, h) } }
        }
        let now = cache.now
        let ttl: Expiry? = end == .max ? nil : Expiry(seconds: max(0.000_001, Double(end - now) / 1e6))
        try cache.store(key, .bytes, envelope.encoded(), expire: ttl, tag: engineTag)
        if trackAccess { try cache.setBookkeeping(MemoAccess.key(key), nil) }
    }

    /// The next step of a miss with a second tier: serve what the tier has (once it passes the
    /// validity policies here), compute (holding the lease or without one), or wait for the lease's
    /// holder. `waitingSince` bounds the wait at twice the lease.
    func tierStep(_ tier: any SecondTier, _ key: [UInt8], token: [UInt8], waitingSince: ContinuousClock.Instant) throws -> TierStep {
        if tier.fill(rawKey: key), case .hit(let v) = try lookup(key, countHit: false, early: false, wantInfo: false).0 { return .serve(v) }
        guard let lease = stampede.sharedLease else { return .compute(leased: false) }
        switch tier.acquireLease(rawKey: key, token: token, for: lease) {
        case .unavailable:
            return .compute(leased: false)
        case .acquired:
            // Published between the look and the lease: serve that.
            if tier.fill(rawKey: key), case .hit(let v) = try lookup(key, countHit: false, early: false, wantInfo: false).0 {
                tier.releaseLease(rawKey: key, token: token)
                return .serve(v)
            }
            return .compute(leased: true)
        case .heldElsewhere:
            return ContinuousClock.now - waitingSince < lease * 2 ? .wait : .compute(leased: false)
        }
    }

    enum TierStep: Sendable {
        case serve(Output)
        case compute(leased: Bool)
        case wait
    }

    /// How long a caller waiting for another's lease sleeps between looks in the tier.
    static var tierPollInterval: Duration { .milliseconds(20) }

    /// A lease token: 16 random bytes as hex, unique to one call.
    static func leaseToken() -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        let hex = Array("0123456789abcdef".utf8)
        return (0..<32).map { _ in hex[Int(g.next() % 16)] }
    }

    func readAccess(_ key: [UInt8]) throws -> (Int64, Int64)? {
        try cache.bookkeeping(MemoAccess.key(key)).flatMap { b in
            b.count == 16 ? (ValueCodec.int64(Array(b[0..<8])), ValueCodec.int64(Array(b[8..<16]))) : nil
        }
    }

    func recordAccess(_ key: [UInt8], now: Int64) throws {
        try cache.updateBookkeeping(MemoAccess.key(key), tag: Array(engineTag.utf8)) { current -> ([UInt8]?, Void) in
            let hits = current.flatMap { $0.count == 16 ? ValueCodec.int64(Array($0[0..<8])) : nil } ?? 0
            return (ValueCodec.le(hits + 1) + ValueCodec.le(now), ())
        }
    }

    /// Removes every stored result of this function (all versions and arguments), here and in
    /// the cache's second tier if it has one (else a shared result would come back at the next
    /// call). Returns how many there were here.
    func clear() throws -> Int {
        let prefix = MemoCallKey<Int>.prefix(name: name)
        let access = MemoAccess.key(prefix)
        // Results and their access records; only the results count.
        let removed = try cache.deleteRecords(withPrefixes: [prefix, access])[0]
        _ = cache.secondTier?.removeAll(withKeyPrefix: prefix)
        return removed
    }

    /// The key of the flight and of the lock file for a call.
    func flightKey(_ key: [UInt8]) -> [UInt8] { Array(cache.directory.utf8) + [0] + key }

    /// The lock file of a call: one of ``MemoLockStripes/count`` files shared by every memoized
    /// function of the directory, so their number stays bounded.
    func lockPath(_ key: [UInt8]) throws -> String {
        try cache.lockFilePath(Array("memo-stripe-\(MemoLockStripes.stripe(key))".utf8))
    }
}

/// The cross-process memoize lock is a fixed pool of lock files, chosen by the call key's hash.
enum MemoLockStripes {
    static let count = 256

    static func stripe(_ key: [UInt8]) -> Int {
        Int(key.withUnsafeBytes { KeyHash.hash($0) } % UInt64(count))
    }
}
