#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CaskStore

/// A persistent key-value cache in a directory, shared safely by every thread and process that
/// opens it.
///
/// ```swift
/// let cache = try Cache(directory: "/tmp/reports")
/// try cache.set("report:42", report, expire: .after(.seconds(3600)), tag: "reports")
/// let cached: Report? = try cache.get("report:42")
/// ```
///
/// Keys are any ``CacheKey`` (strings, byte arrays, integers, `Codable` values through
/// ``CodableKey``). Values are bytes, strings, integers and doubles natively, and any `Codable`
/// through the cache's ``CacheCoder`` (JSON by default).
///
/// ## Topics
/// ### Opening
/// - ``init(directory:settings:clock:coder:persistSettings:)``
/// - ``close()``
/// ### Reading and writing
/// - ``get(_:)``
/// - ``set(_:_:expire:tag:)-(_,[UInt8],_,_)``
/// - ``add(_:_:expire:tag:)``
/// - ``delete(_:)``
/// - ``pop(_:as:)``
/// - ``incr(_:by:default:)``
public final class Cache: Sendable {
    /// The cache directory.
    public let directory: String
    /// The settings in force (stored ones overridden by those given at open).
    public let configuration: CacheConfiguration
    /// The storage engine underneath (bytes in, bytes out): the package's own tools and tests
    /// reach it; users of the cache go through the cache.
    package let store: Store
    package let clock: any CacheClock
    /// The clock is the system's: reads leave the time to the engine, which reads it only for an
    /// entry that can expire.
    let onSystemClock: Bool
    let coder: any CacheCoder
    let isTemporary: Bool
    /// See ``attachSecondTier(_:)``.
    let secondTierSlot = Locked(SecondTierSlot())

    /// Opens (creating if needed) the cache in `directory`.
    ///
    /// - Parameters:
    ///   - directory: The cache directory, created with mode 0700 if missing. `nil` makes a fresh
    ///     temporary directory (removed by ``close()``).
    ///   - settings: Overrides of the stored settings; what is given is stored for later opens.
    ///   - clock: Where the time comes from (inject a ``ManualClock`` in tests).
    ///   - coder: How `Codable` values are encoded (JSON by default).
    ///   - persistSettings: Store the given settings in the directory (the default, as diskcache
    ///     does). Pass false to apply them to this handle only (e.g. a one-off durability mode).
    /// - Throws: ``CaskError`` — `.notACache` for a directory holding something else,
    ///   `.invalidArgument` for bad settings, `.io` (with errno) for permission or disk problems.
    public init(directory: String? = nil, settings: CacheSettings = CacheSettings(),
                clock: any CacheClock = SystemClock(), coder: any CacheCoder = JSONCacheCoder(),
                persistSettings: Bool = true) throws {
        let path: String
        if let directory {
            path = directory
            isTemporary = false
        } else {
            var template = Array("/tmp/cask-XXXXXX".utf8CString)
            guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
                throw CaskError(.io, "cannot create a temporary directory", path: "/tmp", errno: errno)
            }
            path = String(cString: made)
            isTemporary = true
        }
        try Cache.makeDirectories(path)
        let settingsPath = path + "/" + CacheConfiguration.fileName
        var config = CacheConfiguration()
        let stored = try Cache.readText(settingsPath)
        if let stored { try config.decode(stored, path: settingsPath) }
        config.apply(settings)
        try config.validate(directory: path)

        var options = StoreOptions()
        options.shardCount = config.shards
        options.tagIndex = config.tagIndex
        options.statistics = config.statistics
        options.evictionPolicy = config.evictionPolicy
        options.durability = config.durability
        options.cull = Cache.cullRequest(config, limit: config.cullLimit)
        store = try Store(directory: path, options: options)
        try Cache.checkEntries(path)
        config.shards = store.shardCount
        if persistSettings && stored != config.encoded {
            try FileSystem.replaceAtomically(settingsPath, with: Array(config.encoded.utf8), directory: path)
        }
        self.directory = path
        configuration = config
        self.clock = clock
        onSystemClock = clock is SystemClock
        self.coder = coder
    }

    /// The culling every write does (the engine runs it under the writer's lock): expired entries
    /// under every policy, then, unless the policy is `none`, entries past the size limit.
    static func cullRequest(_ config: CacheConfiguration, limit: Int) -> CullRequest {
        CullRequest(sizeLimit: config.evictionPolicy == .none ? nil : config.sizeLimit, limit: limit, order: config.evictionPolicy)
    }

    /// Creates `path` (mode 0700) and any missing parent directories (mode 0755), like `mkdir -p`.
    static func makeDirectories(_ path: String) throws {
        if mkdir(path, 0o700) == 0 || errno == EEXIST { return }
        guard errno == ENOENT else { throw CaskError(.io, "cannot create cache directory", path: path, errno: errno) }
        var parent = path
        while parent.hasSuffix("/") { parent.removeLast() }
        if let slash = parent.lastIndex(of: "/"), slash != parent.startIndex {
            let up = String(parent[..<slash])
            if mkdir(up, 0o755) != 0 && errno != EEXIST {
                if errno == ENOENT { try makeDirectories(up) } else {
                    throw CaskError(.io, "cannot create directory", path: up, errno: errno)
                }
            }
        }
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw CaskError(.io, "cannot create cache directory", path: path, errno: errno)
        }
    }

    static func readText(_ path: String) throws -> String? {
        guard FileSystem.exists(path) else { return nil }
        let file = try FileRef.open(path, flags: O_RDONLY)
        defer { file.close() }
        return String(decoding: try file.readAll(limit: 1 << 16), as: UTF8.self)
    }

    /// Flushes per the durability mode and closes the cache; a temporary cache's directory is
    /// removed. Using the cache afterwards throws `.closed`.
    public func close() throws {
        // A forked child's handle is the parent's, and so is a temporary directory.
        let forked = store.isForkedCopy
        try store.close()
        if isTemporary && !forked { Cache.removeTree(directory) }
    }

    static func removeTree(_ path: String) {
        guard let dir = opendir(path) else { unlink(path); return }
        while let e = readdir(dir) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            let child = path + "/" + name
            if e.pointee.d_type == UInt8(DT_DIR) { removeTree(child) } else { unlink(child) }
        }
        closedir(dir)
        rmdir(path)
    }

    /// Current time in µs since the epoch, from the cache's clock.
    var now: Int64 { clock.micros }

    /// The time a read judges expiry by: nil on the system clock (the engine reads the same clock,
    /// `CLOCK_REALTIME`, only when the entry it found can expire), else the cache's clock.
    var readTime: Int64? { onSystemClock ? nil : clock.micros }

    /// The on-disk expire time for `expire` from `now` (0: never).
    /// - Throws: `.invalidArgument` for NaN or a negative expiry.
    func expireTime(_ expire: Expiry?, now: Int64) throws -> Int64 {
        guard let expire, let time = try expire.expireTime(from: now) else { return 0 }
        return max(1, time)
    }

    // MARK: Value storage

    /// A value prepared for a record: inline payload bytes and record flags, or a value file
    /// written for it (which the engine unlinks if no record takes it).
    struct Prepared {
        var payload: [UInt8]
        var flags: UInt8
        var file: NewValueFile?

        /// The write of this value under `key`'s record.
        func mutation(tag: [UInt8], expireTime: Int64) -> Mutation {
            if let file { return .putFile(file, tag: tag, expireTime: expireTime, flags: flags) }
            return .put(value: payload, tag: tag, expireTime: expireTime, flags: flags)
        }
    }

    func prepare(_ encoding: ValueEncoding, _ bytes: [UInt8]) throws -> Prepared {
        var body = bytes
        var compressed = false
        if configuration.compressionLevel > 0 && bytes.count >= configuration.compressionMinSize,
           let c = Compression.compress(bytes, level: configuration.compressionLevel) {
            body = c
            compressed = true
        }
        if bytes.count >= configuration.minFileSize {
            var given = false
            let file = try store.writeValueFile(compressed: compressed) {
                defer { given = true }
                return given ? nil : body
            }
            return Prepared(payload: [], flags: encoding.flags, file: file)
        }
        return Prepared(payload: body, flags: encoding.flags | (compressed ? RecordFlags.compressed.rawValue : 0), file: nil)
    }

    /// A stored value as seen under the shard lock: inline bytes (decompressed), or its value file,
    /// already open (it stays readable whatever writers do next).
    enum Stored {
        case inline(ValueEncoding, [UInt8])
        case file(ValueEncoding, ValueFileReader)
    }

    static func capture(_ v: RecordView, _ file: ValueFileReader?) throws -> Stored {
        guard let encoding = ValueEncoding(flags: v.flags) else {
            throw CaskError(.corrupted, "record has an unknown value encoding \(v.flags)")
        }
        if let file { return .file(encoding, file) }
        if v.flags & RecordFlags.compressed.rawValue != 0 {
            return .inline(encoding, try Compression.decompress(v.value))
        }
        return .inline(encoding, Array(v.value))
    }

    func materialize(_ s: Stored) throws -> (ValueEncoding, [UInt8]) {
        switch s {
        case .inline(let e, let b): return (e, b)
        case .file(let e, let f):
            let bytes = try f.readAll()
            return (e, f.isCompressed ? try bytes.withUnsafeBytes { try Compression.decompress($0) } : bytes)
        }
    }
}
