import CaskTestSupport
import Foundation
import Testing
@testable import Cask

/// The typed layer's own entries (`values/`, its fan-out directories, value files, `locks/`, the
/// settings file) are never followed when they are symbolic links.
@Suite("Directory trust (typed layer)")
struct DirectoryTrustCacheTests {
    /// A cache with one value in a value file; returns its directory and the value file's path.
    static func cacheWithValueFile() throws -> (TemporaryDirectory, String) {
        let dir = TemporaryDirectory("cask-trust-values")
        let cache = try Cache(directory: dir.path, settings: CacheSettings(shards: 1, minFileSize: 16))
        try cache.set("big", [UInt8](repeating: 7, count: 1000))
        try cache.close()
        let fanOut = try FileManager.default.contentsOfDirectory(atPath: dir.sub("values")).filter { $0.count == 2 }
        let sub = try #require(fanOut.first)
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.sub("values/" + sub)).first)
        return (dir, dir.sub("values/\(sub)/\(file)"))
    }

    @Test(arguments: ["values", "fan-out", "locks", "cask.settings"])
    func aSymlinkedEntryRefusesTheOpen(entry: String) throws {
        let (dir, file) = try Self.cacheWithValueFile()
        _ = mkdir(dir.sub("locks"), 0o700)
        let outside = TemporaryDirectory("cask-trust-out")
        let path: String
        switch entry {
        case "fan-out": path = (file as NSString).deletingLastPathComponent
        case "cask.settings": path = dir.sub(CacheConfiguration.fileName)
        default: path = dir.sub(entry)
        }
        #expect(rename(path, outside.sub("moved")) == 0 && symlink(outside.sub("moved"), path) == 0)
        let error = #expect(throws: CaskError.self) {
            try Cache(directory: dir.path, settings: CacheSettings(shards: 1, minFileSize: 16))
        }
        #expect(error?.code == .unsafeDirectory, "\(String(describing: error))")
        #expect(error?.path == path, "\(String(describing: error))")
    }

    /// A value file replaced by a link to another file is not read through the link.
    @Test func aSymlinkedValueFileIsNotRead() throws {
        let (dir, file) = try Self.cacheWithValueFile()
        let outside = TemporaryDirectory("cask-trust-secret")
        #expect(FileManager.default.createFile(atPath: outside.sub("secret"), contents: Data(repeating: 9, count: 1000)))
        #expect(unlink(file) == 0 && symlink(outside.sub("secret"), file) == 0)
        let cache = try Cache(directory: dir.path, settings: CacheSettings(shards: 1, minFileSize: 16))
        let error = #expect(throws: CaskError.self) { try cache.get("big") as [UInt8]? }
        #expect(error?.errno == ELOOP, "\(String(describing: error))")
        #expect(throws: CaskError.self) { try cache.openValue("big") }
        try cache.close()
    }
}
