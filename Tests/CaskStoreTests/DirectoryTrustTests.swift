import CaskTestSupport
import Foundation
import Testing
@testable import CaskStore

/// A cache directory someone else could change is refused, and no entry inside a cache is ever
/// followed when it is a symbolic link: another local user cannot make the store write elsewhere.
@Suite("Directory trust")
struct DirectoryTrustTests {
    static func fileBytes(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { Array($0) }
    }

    static func expectRefused(_ dir: String, _ reason: String, path: String? = nil,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        let error = #expect(throws: CaskError.self, sourceLocation: sourceLocation) {
            try Store(directory: dir, options: .testing())
        }
        #expect(error?.code == .unsafeDirectory, "\(String(describing: error))", sourceLocation: sourceLocation)
        #expect(error?.isPermissionDenied == true, sourceLocation: sourceLocation)
        #expect(error?.path == (path ?? dir), "\(String(describing: error))", sourceLocation: sourceLocation)
        #expect(error?.description.contains(reason) == true, "\(String(describing: error))", sourceLocation: sourceLocation)
    }

    @Test func aDirectoryWritableByOthersIsRefused() throws {
        let dir = TemporaryDirectory("cask-trust-mode")
        for mode: mode_t in [0o777, 0o770, 0o702] {
            #expect(chmod(dir.path, mode) == 0)
            Self.expectRefused(dir.path, "writable by group or others")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "nothing created")
        }
        // 0755 (what FileManager makes) and 0700 are fine.
        #expect(chmod(dir.path, 0o755) == 0)
        try Store(directory: dir.path, options: .testing()).close()
    }

    @Test func aDirectoryOwnedByAnotherUserIsRefused() throws {
        let dir = TemporaryDirectory("cask-trust-owner")
        let target: String
        if geteuid() == 0 {
            // Even root must not adopt a directory another user prepared.
            #expect(chown(dir.path, 65534, 65534) == 0)
            target = dir.path
        } else {
            target = "/"
        }
        Self.expectRefused(target, "owned by uid")
        if target == dir.path {
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "nothing created")
        }
    }

    /// The attack: `shard-000/lock` pointing at a file of the victim. Opening must fail without
    /// growing or overwriting that file.
    @Test func aSymlinkedLockFileIsNotFollowed() throws {
        let dir = TemporaryDirectory("cask-trust-lock")
        let outside = TemporaryDirectory("cask-trust-victim")
        let victim = outside.sub("precious")
        let original = Array("the victim's own bytes, not a cache header".utf8)
        #expect(FileManager.default.createFile(atPath: victim, contents: Data(original)))
        try Store(directory: dir.path, options: .testing()).close()
        let lock = dir.sub("shard-000/lock")
        #expect(unlink(lock) == 0 && symlink(victim, lock) == 0)
        Self.expectRefused(dir.path, "symbolic link", path: lock)
        let after = Self.fileBytes(victim) ?? []
        #expect(after == original, "the victim's file changed: now \(after.count) bytes")
    }

    /// A symbolic link where a shard directory, the manifest, a segment or the metadata belongs.
    @Test(arguments: ["shard-001", "shard-001/MANIFEST", "shard-001/00000001.log", "cask.meta", "lock"])
    func aSymlinkedEntryIsRefused(entry: String) throws {
        let dir = TemporaryDirectory("cask-trust-entry")
        let outside = TemporaryDirectory("cask-trust-elsewhere")
        let store = try Store(directory: dir.path, options: .testing())
        try store.put(bytes("k"), bytes("v"))
        try store.close()
        // Move the real entry out and link to it: the content is valid, only the link is wrong.
        let moved = outside.sub("moved")
        #expect(rename(dir.sub(entry), moved) == 0 && symlink(moved, dir.sub(entry)) == 0)
        let before = try FileManager.default.subpathsOfDirectory(atPath: outside.path).sorted()
        let sizes = before.map { (try? FileManager.default.attributesOfItem(atPath: outside.sub($0))[.size] as? Int) ?? nil }
        if entry == "lock" {
            // The creation lock is only used when cask.meta is missing.
            #expect(unlink(dir.sub("cask.meta")) == 0)
            let error = #expect(throws: CaskError.self) { try Store(directory: dir.path, options: .testing()) }
            #expect(error?.code == .unsafeDirectory && error?.path == dir.sub("lock"), "\(String(describing: error))")
        } else {
            Self.expectRefused(dir.path, "symbolic link", path: dir.sub(entry))
        }
        #expect(try FileManager.default.subpathsOfDirectory(atPath: outside.path).sorted() == before)
        #expect(before.map { (try? FileManager.default.attributesOfItem(atPath: outside.sub($0))[.size] as? Int) ?? nil } == sizes)
    }

    /// The path the user names may itself be a symbolic link (the user's choice): it is followed.
    @Test func aSymlinkedCacheDirectoryPathIsFollowed() throws {
        let real = TemporaryDirectory("cask-trust-real")
        let links = TemporaryDirectory("cask-trust-links")
        let link = links.sub("cache")
        #expect(symlink(real.path, link) == 0)
        let store = try Store(directory: link, options: .testing())
        try store.put(bytes("k"), bytes("v"))
        try store.close()
        let again = try Store(directory: real.path, options: .testing())
        #expect(text(try again.get(bytes("k"))) == "v")
        try again.close()
    }
}
