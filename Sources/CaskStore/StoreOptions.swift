/// When a write is on stable storage.
public enum Durability: Sendable, Equatable, CustomStringConvertible {
    /// `write()` only: a write survives the process being killed (the kernel has it), not a power loss.
    case none
    /// fsync at most every `interval`, by the writer that finds the interval passed and by a timer:
    /// a power loss loses at most the last interval's writes.
    case interval(Duration)
    /// fsync before returning; concurrent writers share one fsync (group commit).
    case always

    /// "none", "interval(…)" or "always".
    public var description: String {
        switch self {
        case .none: "none"
        case .interval(let d): "interval(\(d))"
        case .always: "always"
        }
    }
}

/// Settings of the storage engine. The shard count is fixed when a directory is created and
/// persisted; the others apply to the handle that is opened with them.
public struct StoreOptions: Sendable, Equatable {
    /// Number of shards for a new directory (1...256). An existing directory keeps its own count.
    public var shardCount = 8
    /// A segment is sealed and a new one started when an append would pass this size.
    public var segmentSize = 64 << 20
    /// When writes reach stable storage.
    public var durability: Durability = .none
    /// Compact a shard when dead bytes exceed this fraction of its log...
    public var compactionDeadFraction = 0.5
    /// ...and the dead bytes exceed this many bytes.
    public var compactionMinimumDeadBytes = 4 << 20
    /// Start compactions automatically (in the background) when a write crosses the thresholds.
    public var automaticCompaction = true
    /// Tries of a non-blocking lock before blocking on it (a writer preempted while holding the
    /// lock would otherwise put every other writer to sleep).
    public var lockSpinCount = 8
    /// Keep a tag -> keys index in memory, so removing a tag's entries costs in proportion to
    /// their number instead of a pass over the whole index.
    public var tagIndex = false
    /// What reads record in memory for eviction (never on disk).
    public var accessTracking: AccessTracking = .none
    /// Culling every write does under its lock: expired entries, and entries past a size limit.
    /// nil, or a limit of 0, culls nothing on writes.
    public var cull: CullRequest?
    /// Count hits and misses of reads (in the shards' shared headers, so all processes add up).
    public var statistics = false

    /// The default options.
    public init() {}
}

/// What a read records about an entry, for the eviction walk.
public enum AccessTracking: Sendable, Equatable {
    /// Nothing: eviction follows store order.
    case none
    /// A referenced bit (the eviction walk gives referenced entries a second chance: CLOCK, an
    /// approximation of least-recently-used).
    case recency
    /// A logarithmic use counter that each pass of the eviction walk decrements (an approximation
    /// of least-frequently-used with aging).
    case frequency
}


