import Cask
import Synchronization

/// What a ``SharedCache``'s tier did, counted since the cache was made.
public struct SharedStatistics: Sendable, Equatable {
    /// Local misses the shared tier answered.
    public var hits = 0
    /// Local misses the shared tier did not have either.
    public var misses = 0
    /// Calls to the shared tier that failed or timed out (probes included).
    public var errors = 0
    /// Calls not made because the circuit breaker was open.
    public var skipped = 0
    /// Whether the breaker is open now (the tier is being skipped).
    public var breakerOpen = false

    public init() {}

    /// The counters under the names `cask stats --json` uses.
    public var fields: [(name: String, value: Int)] {
        [("shared_hits", hits), ("shared_misses", misses), ("shared_errors", errors), ("shared_skipped", skipped)]
    }
}

/// When the circuit breaker stops calling a failing tier, and how it tries again.
public struct SharedBreakerSettings: Sendable, Equatable {
    /// Consecutive failures that open the breaker.
    public var failureThreshold: Int
    /// How long an open breaker skips the tier before one call probes it.
    public var probeInterval: Duration

    public init(failureThreshold: Int = 5, probeInterval: Duration = .seconds(1)) {
        self.failureThreshold = max(failureThreshold, 1)
        self.probeInterval = probeInterval
    }
}

/// A cache with a shared second tier. Reads go to the local cache first; a local miss reads the
/// tier and keeps what it finds locally (same encoding and tag, the tier's remaining expiry).
/// Writes and deletes go to both. The tier never fails a call: its errors and timeouts are
/// counted, and after repeated failures a circuit breaker skips it until a probe succeeds.
///
/// It attaches itself to its cache as the cache's ``SecondTier`` (for as long as it lives), so the
/// cache's memoized functions look in the tier on a miss, publish what they compute, and take a
/// lease in the tier so that one machine computes a call that several miss at once.
public final class SharedCache: SecondTier {
    public let cache: Cache
    public let tier: any SharedTier
    public let breaker: SharedBreakerSettings
    private let state = Mutex(State())

    private struct State {
        var statistics = SharedStatistics()
        var consecutiveFailures = 0
        var openedAt: ContinuousClock.Instant?
    }

    /// How long a local copy of a shared entry is trusted: a copy taken from the tier expires
    /// locally after at most this long (its own expiry if sooner), so the next read after that asks
    /// the tier again and sees a write made elsewhere meanwhile. Nil: kept until its own expiry.
    public let localTrust: Duration?

    /// Remaining expiry sent to the tier is measured on `cache`'s own clock.
    public init(cache: Cache, tier: any SharedTier, breaker: SharedBreakerSettings = SharedBreakerSettings(),
                localTrust: Duration? = nil) {
        self.cache = cache
        self.tier = tier
        self.breaker = breaker
        self.localTrust = localTrust
        cache.attachSecondTier(self)
    }

    private var clock: any CacheClock { cache.clock }

    public var statistics: SharedStatistics { state.withLock { $0.statistics } }

    // MARK: Reading

    /// The bytes under `key`: local, else from the tier.
    public func get(_ key: some CacheKey) throws -> [UInt8]? {
        if let local = try cache.get(key) { return local }
        return try fill(key.cacheKeyBytes) ? cache.get(key) : nil
    }

    /// The value under `key` decoded as `type`: local, else from the tier.
    public func get<V: Decodable>(_ key: some CacheKey, as type: V.Type = V.self) throws -> V? {
        if let local = try cache.get(key, as: type) { return local }
        return try fill(key.cacheKeyBytes) ? cache.get(key, as: type) : nil
    }

    /// The entry under `key` with its expire time and tag: local, else from the tier.
    public func entry<V: Decodable>(_ key: some CacheKey, as type: V.Type = V.self) throws -> CacheEntry<V>? {
        if let local = try cache.entry(key, as: type) { return local }
        return try fill(key.cacheKeyBytes) ? cache.entry(key, as: type) : nil
    }

    /// The values of `keys` decoded as `type`, in order (nil where there is none): local first,
    /// then the local misses from the tier in one batch (``SharedTier/read(many:)``: one round
    /// trip on a standalone Redis, one per node in a cluster), kept locally as `get` keeps them.
    public func get<K: CacheKey, V: Decodable>(many keys: [K], as type: V.Type = V.self) throws -> [V?] {
        var values = try keys.map { try cache.get($0, as: type) }
        let missing = values.indices.filter { values[$0] == nil }
        guard !missing.isEmpty else { return values }
        let raw = missing.map { keys[$0].cacheKeyBytes }
        guard let records = attempt({ try tier.read(many: raw) }) else { return values }
        for (j, i) in missing.enumerated() where try keep(records[j], raw[j]) {
            values[i] = try cache.get(keys[i], as: type)
        }
        return values
    }

    /// On a local miss: reads the tier and stores what it has locally. Whether it had the key.
    private func fill(_ key: [UInt8]) throws -> Bool {
        guard let found = attempt({ try tier.read(key) }) else { return false }
        return try keep(found, key)
    }

    /// Stores locally what the tier had under `key`; whether it had a live entry.
    private func keep(_ found: SharedRecord?, _ key: [UInt8]) throws -> Bool {
        guard let record = found, let envelope = SharedEnvelope(decoding: record.bytes) else {
            count(.miss)
            return false
        }
        var remaining: Double?
        if let millis = record.remainingMillis {
            remaining = Double(millis) / 1000
        } else if let expireTime = envelope.expireTime {
            remaining = expireTime - clock.now
        }
        if let r = remaining, r <= 0 {
            count(.miss)
            return false
        }
        if let localTrust {
            let trusted = RemoteCache.seconds(localTrust)
            remaining = min(remaining ?? trusted, trusted)
        }
        try cache.setStored(rawKey: key, envelope.value, expire: remaining.map { .seconds($0) }, tag: envelope.tag)
        count(.hit)
        return true
    }

    /// Counts in this object's statistics and in the cache directory's shared counters.
    private func count(_ event: SecondTierEvent) {
        state.withLock { s in
            switch event {
            case .hit: s.statistics.hits += 1
            case .miss: s.statistics.misses += 1
            case .error: s.statistics.errors += 1
            }
        }
        cache.countSecondTier(event)
    }

    // MARK: Writing

    /// Stores bytes locally, then in the tier.
    public func set(_ key: some CacheKey, _ value: [UInt8], expire: Expiry? = nil, tag: String? = nil) throws {
        try cache.set(key, value, expire: expire, tag: tag)
        publish(key.cacheKeyBytes)
    }

    /// Stores a value locally (encoded as the cache encodes it), then in the tier.
    public func set<V: Encodable>(_ key: some CacheKey, _ value: V, expire: Expiry? = nil, tag: String? = nil) throws {
        try cache.set(key, value, expire: expire, tag: tag)
        publish(key.cacheKeyBytes)
    }

    /// Stores every item locally, then sends them to the tier in one batch
    /// (``SharedTier/write(many:)``).
    public func set<K: CacheKey, V: Encodable>(many items: [(K, V)], expire: Expiry? = nil, tag: String? = nil) throws {
        for (key, value) in items { try cache.set(key, value, expire: expire, tag: tag) }
        let writes = items.compactMap { sharedWrite($0.0.cacheKeyBytes) }
        guard !writes.isEmpty else { return }
        _ = attempt { try tier.write(many: writes) }
    }

    /// Removes `key` locally and from the tier; whether it was there locally.
    @discardableResult
    public func delete(_ key: some CacheKey) throws -> Bool {
        let removed = try cache.delete(key)
        let k = key.cacheKeyBytes
        _ = attempt { try tier.remove(k) }
        return removed
    }

    /// Sends the local entry under `key` to the tier, as stored (encoding, tag, expiry).
    private func publish(_ key: [UInt8]) {
        guard let w = sharedWrite(key) else { return }
        _ = attempt { try tier.write(w.key, w.bytes, expireMillis: w.expireMillis, tag: w.tag) }
    }

    /// What the tier is sent for the local entry under `key`; nil if there is none or it expired.
    private func sharedWrite(_ key: [UInt8]) -> SharedWrite? {
        guard let stored = try? cache.storedValue(rawKey: key) else { return nil }
        var millis: Int64?
        if let expireTime = stored.expireTime {
            let left = ((expireTime - clock.now) * 1000).rounded(.up)
            guard left > 0 else { return nil }
            millis = left < 9e15 ? Int64(left) : nil
        }
        let bytes = SharedEnvelope(value: stored.value, expireTime: stored.expireTime, tag: stored.tag).encoded()
        return SharedWrite(key: key, bytes: bytes, expireMillis: millis, tag: stored.tag)
    }

    /// Removes every entry tagged `tag` locally and from the tier; how many there were locally.
    @discardableResult
    public func evict(tag: String) throws -> Int {
        let removed = try cache.evict(tag: tag)
        _ = attempt { try tier.removeTagged(tag) }
        return removed
    }

    /// Removes every entry locally and every entry of the tier (all machines' shared entries;
    /// their local copies stay until they expire or are removed there); how many there were locally.
    @discardableResult
    public func clear() throws -> Int {
        let removed = try cache.clear()
        _ = attempt { try tier.removeAll() }
        return removed
    }

    // MARK: Second tier of the cache's memoized functions

    public func fill(rawKey: [UInt8]) -> Bool { (try? fill(rawKey)) ?? false }

    public func publish(rawKey: [UInt8]) { publish(rawKey) }

    public func remove(rawKey: [UInt8]) -> Bool { attempt { try tier.remove(rawKey) } ?? false }

    public func removeTagged(_ tag: String) -> Int? { attempt { try tier.removeTagged(tag) } }

    public func removeAll() -> Int? { attempt { try tier.removeAll() } }

    public func removeAll(withKeyPrefix keyPrefix: [UInt8]) -> Int? { attempt { try tier.removeAll(withKeyPrefix: keyPrefix) } }

    public func acquireLease(rawKey: [UInt8], token: [UInt8], for duration: Duration) -> SecondTierLease {
        let millis = max(1, duration.nanoseconds / 1_000_000)
        guard let taken = attempt({ try tier.acquireLease(rawKey, token: token, millis: millis) }) else { return .unavailable }
        return taken ? .acquired : .heldElsewhere
    }

    public func releaseLease(rawKey: [UInt8], token: [UInt8]) {
        _ = attempt { try tier.releaseLease(rawKey, token: token) }
    }

    // MARK: Circuit breaker

    private enum Decision { case call, probe, skip }

    /// Runs `body` against the tier unless the breaker is open; nil if it was skipped or failed.
    private func attempt<T>(_ body: () throws -> T) -> T? {
        let now = ContinuousClock.now
        let decision: Decision = state.withLock { s in
            guard let opened = s.openedAt else { return .call }
            guard now - opened >= breaker.probeInterval else {
                s.statistics.skipped += 1
                return .skip
            }
            s.openedAt = now   // other calls keep skipping while this one probes
            return .probe
        }
        switch decision {
        case .skip:
            return nil
        case .probe:
            do { try tier.probe() } catch {
                failed()
                return nil
            }
        case .call:
            break
        }
        do {
            let result = try body()
            state.withLock { s in
                s.consecutiveFailures = 0
                s.openedAt = nil
                s.statistics.breakerOpen = false
            }
            return result
        } catch {
            failed()
            return nil
        }
    }

    private func failed() {
        let now = ContinuousClock.now
        cache.countSecondTier(.error)
        state.withLock { s in
            s.statistics.errors += 1
            s.consecutiveFailures += 1
            if s.consecutiveFailures >= breaker.failureThreshold {
                s.openedAt = now
                s.statistics.breakerOpen = true
            }
        }
    }
}
