#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The root metadata file `cask.meta`: a few `name value` text lines, written once when the store
/// is created (temp + rename) and never changed by the engine.
///
///     cask-format 1
///     shards 8
enum StoreMeta {
    static let fileName = "cask.meta"
    static let formatVersion = 1

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
        if FileSystem.exists(metaPath) { return try read(metaPath) }
        let lock = try FileRef.open(directory + "/lock", flags: O_RDWR | O_CREAT)
        defer { lock.close() }
        if case .failure(let e) = Sys.flock(lock.fd, LOCK_EX) { throw CaskError.io("cannot lock store", path: lock.path, errno: e) }
        defer { _ = Sys.flock(lock.fd, LOCK_UN) }
        if FileSystem.exists(metaPath) { return try read(metaPath) }
        let names: [String]
        switch Sys.listDirectory(directory) {
        case .success(let n): names = n
        case .failure(let e): throw CaskError.io("cannot list directory", path: directory, errno: e)
        }
        let foreign = names.filter { $0 != "lock" && !$0.hasPrefix(fileName + ".tmp") }
        guard foreign.isEmpty else {
            throw CaskError(.notACache, "directory is not empty and holds no \(fileName)", path: directory)
        }
        let text = "cask-format \(formatVersion)\nshards \(shardCount)\n"
        try FileSystem.replaceAtomically(metaPath, with: Array(text.utf8), directory: directory)
        return shardCount
    }

    static func read(_ path: String) throws -> Int {
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
        guard format == formatVersion else {
            throw CaskError(.unsupportedVersion, "store format \(format) is not supported (this build reads \(formatVersion))", path: path)
        }
        guard let shards = fields["shards"].flatMap({ Int($0) }), (1...256).contains(shards) else {
            throw CaskError(.corrupted, "metadata has no valid shard count", path: path)
        }
        return shards
    }
}
