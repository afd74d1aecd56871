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
    /// Rounds of tries of a busy write lock before blocking on it, each up to 4 µs of tries then a
    /// yield of the CPU (a writer preempted while holding the lock would otherwise put every other
    /// writer to sleep, and a running holder lets go within a microsecond or two).
    public var lockSpinCount = 8
    /// Keep a tag -> keys index in memory, so removing a tag's entries costs in proportion to
    /// their number instead of a pass over the whole index.
    public var tagIndex = false
    /// What the eviction walk removes first, and so what reads record in memory (never on disk).
    public var evictionPolicy: EvictionPolicy = .leastRecentlyStored
    /// Culling every write does under its lock: expired entries, and entries past a size limit.
    /// nil, or a limit of 0, culls nothing on writes.
    public var cull: CullRequest?
    /// Check each record's CRC once per handle instead of on every read. The handle remembers
    /// in memory which records it has checked (when it wrote them, scanned them from the log, or
    /// first read them), and later reads copy those without checking (core workload get p50
    /// 0.09 µs against 0.12, where the CRC covers a record of a few hundred bytes). The price: damage made to a record after its check — another program writing the
    /// file, a disk corrupting a page the kernel reads again — is handed out instead of being
    /// reported and treated as absent, as it is by default.
    public var checkRecordsOnce = false
    /// Count hits and misses of reads (in the shards' shared headers, so all processes add up).
    public var statistics = false

    /// The default options.
    public init() {}
}

/// How a store chooses what to remove when a shard is over its size limit, and so what reads
/// record about an entry (in memory only: reads never write to disk).
public enum EvictionPolicy: String, Sendable, CaseIterable, Codable {
    /// Oldest stored first (diskcache's default). Reads record nothing.
    case leastRecentlyStored = "least-recently-stored"
    /// Least recently read first — approximated by a second-chance walk over the log (CLOCK);
    /// reads set an in-memory bit.
    case leastRecentlyUsed = "least-recently-used"
    /// Least often read first — an in-memory count of reads since the entry was stored; the
    /// eviction walk removes the least-read entry of each sample it passes.
    case leastFrequentlyUsed = "least-frequently-used"
    /// Never evict; the size limit is not enforced (expired entries are still removed).
    case none
    /// Scan-resistant and frequency-aware (S3-FIFO on the log): new entries are on probation
    /// (about a tenth of the size limit) and leave it only if read there; promoted entries are
    /// evicted CLOCK-like with a small read count; keys evicted from probation lately are
    /// remembered (hashes, in memory) and skip probation when stored again.
    case scanResistant = "scan-resistant"

    /// True when reads record something for the eviction walk.
    /// (A switch, which the optimizer inlines into every read; the `||` of three `==` compiled to
    /// the same bit test but stayed a call.)
    var tracksAccess: Bool {
        switch self {
        case .leastRecentlyUsed, .leastFrequentlyUsed, .scanResistant: true
        case .leastRecentlyStored, .none: false
        }
    }
}
