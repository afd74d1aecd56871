import Cask
import CaskStore

/// What the timed workloads run against: the typed `Cache` (what applications embed, and what the
/// comparison with diskcache's `Cache` measures) or the bytes-level `Store` underneath.
public protocol BenchTarget: Sendable {
    /// The value of `key` as a new array, or nil.
    func get(_ key: [UInt8]) throws -> [UInt8]?
    /// Stores `value` under `key`.
    func set(_ key: [UInt8], _ value: [UInt8]) throws
    /// Deletes `key`; true if it was there.
    func delete(_ key: [UInt8]) throws -> Bool
    /// Flushes and releases the target.
    func close() throws
}

/// Which API the benchmark drives.
public enum BenchAPI: String, Sendable, CaseIterable {
    case cache, store

    /// Opens a target on `directory` with engine options `options` (shards, durability). `policy`
    /// replaces the target's default eviction policy (the `Cache`'s or the engine's) when given.
    public func open(directory: String, options: StoreOptions, policy: EvictionPolicy? = nil) throws -> any BenchTarget {
        switch self {
        case .store:
            var options = options
            if let policy { options.evictionPolicy = policy }
            return StoreTarget(store: try Store(directory: directory, options: options))
        case .cache:
            let durability: CacheDurability = switch options.durability {
            case .none: .none
            case .always: .always
            case .interval(let d): .interval(d)
            }
            // A benchmark run's settings apply to that run only.
            return CacheTarget(cache: try Cache(directory: directory,
                                                settings: CacheSettings(shards: options.shardCount, evictionPolicy: policy,
                                                                        durability: durability),
                                                persistSettings: false))
        }
    }
}

/// The engine seen as a bench target.
struct StoreTarget: BenchTarget {
    let store: Store
    func get(_ key: [UInt8]) throws -> [UInt8]? { try store.get(key) }
    func set(_ key: [UInt8], _ value: [UInt8]) throws { try store.put(key, value) }
    func delete(_ key: [UInt8]) throws -> Bool { try store.delete(key) }
    func close() throws { try store.close() }
}

/// A `Cache` seen as a bench target: keys are byte-array keys, values bytes.
struct CacheTarget: BenchTarget {
    let cache: Cache
    func get(_ key: [UInt8]) throws -> [UInt8]? { try cache.get(key) }
    func set(_ key: [UInt8], _ value: [UInt8]) throws { try cache.set(key, value) }
    func delete(_ key: [UInt8]) throws -> Bool { try cache.delete(key) }
    func close() throws { try cache.close() }
}
