import CaskStore

/// A store that several caches share behind their local one — a *second tier* — as the typed
/// layer sees it. `Cask` only calls these hooks; `CaskRemote`'s `SharedCache` implements them
/// (over Redis) and attaches itself to its cache with ``Cache/attachSecondTier(_:)``.
///
/// With a second tier attached, a memoized function of the cache that misses locally looks in the
/// tier before computing, publishes what it computes, and (``StampedeProtection/sharedLease``)
/// takes a lease in the tier so that of several machines missing one call at once, one computes
/// and the others wait for its result. The hooks never throw: a tier that fails behaves as one
/// that does not have the entry (its implementation counts the failure).
public protocol SecondTier: AnyObject, Sendable {
    /// On a local miss of `rawKey` (a canonical key's bytes): copies the tier's entry, if there is
    /// one, into the local cache. Whether it did.
    func fill(rawKey: [UInt8]) -> Bool
    /// After a local write of `rawKey`: sends the local entry to the tier.
    func publish(rawKey: [UInt8])
    /// Removes `rawKey` from the tier; whether the tier had it (false also when it failed).
    func remove(rawKey: [UInt8]) -> Bool
    /// Removes every entry of the tier tagged `tag`; how many, or nil if the tier failed.
    func removeTagged(_ tag: String) -> Int?
    /// Removes every entry of the tier; how many, or nil if the tier failed.
    func removeAll() -> Int?
    /// Removes every entry of the tier whose key starts with `keyPrefix` (canonical key bytes);
    /// how many, or nil if the tier failed.
    func removeAll(withKeyPrefix keyPrefix: [UInt8]) -> Int?
    /// Takes the lease on computing `rawKey` for `duration` unless another holder has it.
    func acquireLease(rawKey: [UInt8], token: [UInt8], for duration: Duration) -> SecondTierLease
    /// Gives the lease back if `token` still holds it (a lease that expired and was taken by
    /// another holder is left alone).
    func releaseLease(rawKey: [UInt8], token: [UInt8])
}

/// The answer to ``SecondTier/acquireLease(rawKey:token:for:)``.
public enum SecondTierLease: Sendable, Equatable {
    /// This caller holds the lease: compute, publish, release.
    case acquired
    /// Another caller (on this machine or another) holds it: wait for its result.
    case heldElsewhere
    /// The tier did not answer: compute without a lease.
    case unavailable
}

/// What a second tier did, as ``Cache/countSecondTier(_:)`` records it.
public enum SecondTierEvent: Sendable {
    /// A local miss the tier answered.
    case hit
    /// A local miss the tier did not have either.
    case miss
    /// A call to the tier that failed or timed out.
    case error
}

/// The cache's second tier, held weakly (the tier holds the cache).
struct SecondTierSlot: @unchecked Sendable {
    // @unchecked: only read and written under the `Locked` that holds it.
    weak var tier: (any SecondTier)?
}

extension Cache {
    /// Makes `tier` this cache's second tier (nil detaches it). The cache holds it weakly: it is
    /// attached for as long as its owner keeps it.
    public func attachSecondTier(_ tier: (any SecondTier)?) {
        secondTierSlot.withLock { $0.tier = tier }
    }

    /// Counts an event of this cache's second tier in the directory's shared counters
    /// (``CacheStatistics/sharedHits`` and its neighbors; all processes add to them).
    public func countSecondTier(_ event: SecondTierEvent) {
        switch event {
        case .hit: store.countTier(.hit)
        case .miss: store.countTier(.miss)
        case .error: store.countTier(.error)
        }
    }

    /// The attached second tier, if any.
    public var secondTier: (any SecondTier)? { secondTierSlot.withLock { $0.tier } }
}
