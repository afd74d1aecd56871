#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The root metadata file `cask.meta`: a few `name value` text lines, written when the store is
/// created (temp + rename), and once more when a store of an older format is upgraded.
///
///     cask-format 3
///     shards 8
///
/// Format 2 differs from 1 only in the shard write lock (a mutex in the shared header instead of
/// `flock`). Format 3 (this release) writes records through a shared writable mapping of space
/// allocated ahead, and every process that cuts a segment file lowers the shared header's
/// allocated position first; a release that does not would let a mapped store land past the end
/// of the file (SIGBUS). The records are the same in all three. An older store is upgraded when
/// opened, so that a release that knows only an older protocol refuses it instead of writing
/// beside processes that follow the newer one.
enum StoreMeta {
    static let fileName = "cask.meta"
    static let formatVersion = 3
    /// Formats this build opens (older ones are upgraded in place).
    static let readableFormats = 1...3

    static func shardDirectory(_ i: Int) -> String {
        let digits = String(i)
        return "shard-" + String(repeating: "0", count: max(0, 3 - digits.count)) + digits
    }

    /// Reads the shard count of the store in `directory`, creating the store if the directory is
    /// new or empty. Creation is serialized by `flock` on `<directory>/lock`.
    /// The directory must be this user's and not writable by group or others (see
    /// `FileSystem.checkTrusted`); it may be a symbolic link, nothing inside it may.
    static func openOrCreate(directory: String, shardCount: Int) throws -> Int {
        try FileSystem.makeDirectory(directory, followLink: true)
        try FileSystem.checkTrusted(directory)
        let metaPath = directory + "/" + fileName
        if FileSystem.exists(metaPath), case let (format, shards) = try read(metaPath), format == formatVersion { return shards }
        let lock = try FileRef.open(directory + "/lock", flags: O_RDWR | O_CREAT)
        defer { lock.close() }
        if case .failure(let e) = Sys.flock(lock.fd, LOCK_EX) { throw CaskError.io("cannot lock store", path: lock.path, errno: e) }
        defer { _ = Sys.flock(lock.fd, LOCK_UN) }
        if FileSystem.exists(metaPath) {
            let (format, shards) = try read(metaPath)
            if format != formatVersion { try write(metaPath, shards: shards, directory: directory) }
            return shards
        }
        let names: [String]
        switch Sys.listDirectory(directory) {
        case .success(let n): names = n
        case .failure(let e): throw CaskError.io("cannot list directory", path: directory, errno: e)
        }
        let foreign = names.filter { $0 != "lock" && !$0.hasPrefix(fileName + ".tmp") }
        guard foreign.isEmpty else {
            throw CaskError(.notACache, "directory is not empty and holds no \(fileName)", path: directory)
        }
        try write(metaPath, shards: shardCount, directory: directory)
        return shardCount
    }

    /// Replaces the metadata atomically with this build's format.
    static func write(_ path: String, shards: Int, directory: String) throws {
        let text = "cask-format \(formatVersion)\nshards \(shards)\n"
        try FileSystem.replaceAtomically(path, with: Array(text.utf8), directory: directory)
    }

    /// The format and shard count of the metadata at `path`.
    static func read(_ path: String) throws -> (format: Int, shards: Int) {
        let file = try FileRef.open(path, flags: O_RDONLY)
        defer { file.close() }
        let bytes = try file.readAll(limit: 4096)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw CaskError(.notACache, "metadata is not text", path: path)
        }
        var fields: [Substring: Substring] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        guard let format = fields["cask-format"].flatMap({ Int($0) }) else {
            throw CaskError(.notACache, "metadata does not name a Cask format", path: path)
        }
        guard readableFormats.contains(format) else {
            throw CaskError(.unsupportedVersion, "store format \(format) is not supported (this build reads \(readableFormats.lowerBound) to \(formatVersion))", path: path)
        }
        guard let shards = fields["shards"].flatMap({ Int($0) }), (1...256).contains(shards) else {
            throw CaskError(.corrupted, "metadata has no valid shard count", path: path)
        }
        return (format, shards)
    }
}
