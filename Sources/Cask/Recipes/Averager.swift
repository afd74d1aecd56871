import CaskStore
/// A running average kept in the cache, updated atomically by any thread or process (diskcache's
/// `Averager`). The total and the count are stored under `key` as the JSON pair `[total, count]`.
///
/// ```swift
/// let latency = Averager(cache: cache, key: "latency-ms")
/// try latency.add(12.5)
/// let mean = try latency.average      // nil until something was added
/// ```
public struct Averager: Sendable {
    public let cache: Cache
    public let key: String
    public let expire: Expiry?
    public let tag: String?

    public init(cache: Cache, key: String, expire: Expiry? = nil, tag: String? = nil) {
        self.cache = cache
        self.key = key
        self.expire = expire
        self.tag = tag
    }

    /// Adds `value` to the average.
    public func add(_ value: Double) throws {
        try cache.transact { tx in
            let pair = try tx.get(key, as: [Double].self) ?? [0, 0]
            let (total, n) = pair.count == 2 ? (pair[0], pair[1]) : (0, 0)
            try tx.set(key, [total + value, n + 1], expire: expire, tag: tag)
        }
    }

    /// The average of the values added so far; nil if none (or the record expired).
    public var average: Double? {
        get throws {
            guard let pair = try cache.get(key, as: [Double].self), pair.count == 2, pair[1] > 0 else { return nil }
            return pair[0] / pair[1]
        }
    }

    /// How many values were added.
    public var count: Int {
        get throws { try cache.get(key, as: [Double].self).map { $0.count == 2 ? Int($0[1]) : 0 } ?? 0 }
    }

    /// Returns the average and starts over.
    public func pop() throws -> Double? {
        guard let pair = try cache.pop(key, as: [Double].self), pair.count == 2, pair[1] > 0 else { return nil }
        return pair[0] / pair[1]
    }
}
