import CaskStore

// The engine's types that the cache's own API uses, under the names users of `Cask` see. `Cask`
// does not re-export the engine: `import Cask` is the whole public surface of the typed cache.

/// The error type of every Cask operation; see `CaskStore.CaskError`.
public typealias CaskError = CaskStore.CaskError
/// What the cache removes first when over its size limit; see `CaskStore.EvictionPolicy`.
public typealias EvictionPolicy = CaskStore.EvictionPolicy
/// What compacting one shard did; see `CaskStore.CompactionResult`.
public typealias CompactionResult = CaskStore.CompactionResult
/// Per-shard figures of ``CacheStatistics``; see `CaskStore.ShardStatistics`.
public typealias ShardStatistics = CaskStore.ShardStatistics
/// What opening (and reading) found and repaired; see `CaskStore.RecoveryReport`.
public typealias RecoveryReport = CaskStore.RecoveryReport
/// What checking one shard's log found; see `CaskStore.ShardCheck`.
public typealias ShardCheck = CaskStore.ShardCheck
