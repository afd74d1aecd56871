import CaskStore

/// When writes reach stable storage: the engine's `CaskStore.Durability`.
public typealias CacheDurability = Durability

/// Settings to apply when opening a cache. Every property left `nil` keeps the value stored in the
/// directory (or the default for a new cache); every property set overrides it and is stored, as
/// diskcache does.
public struct CacheSettings: Sendable, Equatable {
    /// Shards of a new cache (default 8). An existing cache keeps its shard count.
    public var shards: Int?
    /// Bytes of live data above which the cache evicts (default 1 GiB). Split evenly over shards.
    public var sizeLimit: Int?
    /// Most entries removed by one write when culling (default 10; 0 disables culling on writes).
    public var cullLimit: Int?
    /// What to evict over the size limit (default scan-resistant).
    public var evictionPolicy: EvictionPolicy?
    /// Count hits and misses (default off).
    public var statistics: Bool?
    /// Keep an in-memory tag index so that ``Cache/evict(tag:)`` costs in proportion to the tag (default off).
    public var tagIndex: Bool?
    /// Values of at least this many bytes are stored as separate files (default 32 KiB).
    public var minFileSize: Int?
    /// zlib level 1...9 to compress values with; 0 disables compression (default 0).
    public var compressionLevel: Int?
    /// Only values of at least this many bytes are compressed (default 1 KiB).
    public var compressionMinSize: Int?
    /// Default `.none`.
    public var durability: CacheDurability?

    /// Settings with the given overrides; everything else keeps the stored value.
    public init(shards: Int? = nil, sizeLimit: Int? = nil, cullLimit: Int? = nil, evictionPolicy: EvictionPolicy? = nil,
                statistics: Bool? = nil, tagIndex: Bool? = nil, minFileSize: Int? = nil, compressionLevel: Int? = nil,
                compressionMinSize: Int? = nil, durability: CacheDurability? = nil) {
        self.shards = shards
        self.sizeLimit = sizeLimit
        self.cullLimit = cullLimit
        self.evictionPolicy = evictionPolicy
        self.statistics = statistics
        self.tagIndex = tagIndex
        self.minFileSize = minFileSize
        self.compressionLevel = compressionLevel
        self.compressionMinSize = compressionMinSize
        self.durability = durability
    }
}

/// The settings a cache runs with: what was stored, overridden by what was given at open.
public struct CacheConfiguration: Sendable, Equatable {
    /// Shards of the cache (as stored in the directory).
    public var shards = 8
    /// Live bytes above which writes evict (split evenly over the shards).
    public var sizeLimit = 1 << 30
    /// Most entries one write removes when culling.
    public var cullLimit = 10
    /// What is evicted first.
    public var evictionPolicy = EvictionPolicy.scanResistant
    /// Whether hits and misses are counted.
    public var statistics = false
    /// Whether an in-memory tag index is kept.
    public var tagIndex = false
    /// Values at least this large are stored in their own files.
    public var minFileSize = 32 << 10
    /// zlib level (0: no compression).
    public var compressionLevel = 0
    /// Smallest value that is compressed.
    public var compressionMinSize = 1 << 10
    /// When writes reach stable storage.
    public var durability = CacheDurability.none

    /// The defaults of a new cache.
    public init() {}

    mutating func apply(_ s: CacheSettings) {
        if let v = s.shards { shards = v }
        if let v = s.sizeLimit { sizeLimit = v }
        if let v = s.cullLimit { cullLimit = v }
        if let v = s.evictionPolicy { evictionPolicy = v }
        if let v = s.statistics { statistics = v }
        if let v = s.tagIndex { tagIndex = v }
        if let v = s.minFileSize { minFileSize = v }
        if let v = s.compressionLevel { compressionLevel = v }
        if let v = s.compressionMinSize { compressionMinSize = v }
        if let v = s.durability { durability = v }
    }

    func validate(directory: String) throws {
        func bad(_ what: String) -> CaskError { CaskError(.invalidArgument, what, path: directory) }
        guard (1...256).contains(shards) else { throw bad("shards must be 1...256") }
        guard sizeLimit > 0 else { throw bad("size limit must be positive") }
        guard cullLimit >= 0 else { throw bad("cull limit must not be negative") }
        guard minFileSize >= 1 else { throw bad("minimum file size must be positive") }
        guard (0...9).contains(compressionLevel) else { throw bad("compression level must be 0...9") }
        guard compressionMinSize >= 0 else { throw bad("compression minimum size must not be negative") }
    }

    // MARK: Persistence: `<dir>/cask.settings`, one "name value" line per setting.

    static let fileName = "cask.settings"

    var encoded: String {
        let durabilityText: String
        switch durability {
        case .none: durabilityText = "none"
        case .always: durabilityText = "always"
        case .interval(let d):
            let (s, a) = d.components
            durabilityText = "interval-ms:\(s * 1000 + a / 1_000_000_000_000_000)"
        }
        return """
            size-limit \(sizeLimit)
            cull-limit \(cullLimit)
            eviction-policy \(evictionPolicy.rawValue)
            statistics \(statistics)
            tag-index \(tagIndex)
            min-file-size \(minFileSize)
            compression-level \(compressionLevel)
            compression-min-size \(compressionMinSize)
            durability \(durabilityText)

            """
    }

    /// Reads stored settings; unknown names are ignored, malformed values are an error.
    mutating func decode(_ text: String, path: String) throws {
        for line in text.split(separator: "\n") where !line.isEmpty {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw CaskError(.corrupted, "malformed settings line '\(line)'", path: path) }
            let (name, value) = (parts[0], parts[1])
            func int() throws -> Int {
                guard let v = Int(value) else { throw CaskError(.corrupted, "setting \(name) is not a number", path: path) }
                return v
            }
            func bool() throws -> Bool {
                guard let v = Bool(value) else { throw CaskError(.corrupted, "setting \(name) is not true/false", path: path) }
                return v
            }
            switch name {
            case "size-limit": sizeLimit = try int()
            case "cull-limit": cullLimit = try int()
            case "eviction-policy":
                guard let p = EvictionPolicy(rawValue: value) else { throw CaskError(.corrupted, "unknown eviction policy \(value)", path: path) }
                evictionPolicy = p
            case "statistics": statistics = try bool()
            case "tag-index": tagIndex = try bool()
            case "min-file-size": minFileSize = try int()
            case "compression-level": compressionLevel = try int()
            case "compression-min-size": compressionMinSize = try int()
            case "durability":
                if value == "none" { durability = .none }
                else if value == "always" { durability = .always }
                else if value.hasPrefix("interval-ms:"), let ms = Int(value.dropFirst(12)) { durability = .interval(.milliseconds(ms)) }
                else { throw CaskError(.corrupted, "unknown durability \(value)", path: path) }
            default: continue
            }
        }
    }
}
