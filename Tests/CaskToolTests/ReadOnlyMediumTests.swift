import Cask
import Foundation
import Testing
@testable import cask

/// `cask get` on a cache it cannot open for writing says exactly why (the engine has no read-only
/// open: every open takes the shards' lock files read-write).
@Suite("cask on a read-only medium")
struct ReadOnlyMediumTests {
    @Test func writeAccessErrorsAreExplained() throws {
        for errno in [EROFS, EACCES] {
            let error = CaskError(.io, "cannot open file", path: "/media/c/shard-000/lock", errno: errno)
            let explained = try #require(ReadOnlyMedium.explain(error, directory: "/media/c"))
            #expect(explained.code == .io, "exit 4, as other I/O failures")
            #expect(explained.description.contains("/media/c/shard-000/lock"))
            #expect(explained.description.contains("takes each shard's lock file read-write"))
            #expect(explained.description.contains("cp -a /media/c"))
        }
        let rofs = ReadOnlyMedium.explain(CaskError(.io, "cannot open file", path: "/m/lock", errno: EROFS), directory: "/m")
        #expect(rofs?.description.hasPrefix("/m is on a read-only file system") == true)
        // Other failures keep their own message.
        #expect(ReadOnlyMedium.explain(CaskError(.io, "write failed", path: "/m/x", errno: ENOSPC), directory: "/m") == nil)
        #expect(ReadOnlyMedium.explain(CaskError(.corrupted, "bad", path: "/m/x"), directory: "/m") == nil)
    }

    /// Runs `cask args` after `mountScript` (with `$1` = `directory`) in a mount namespace of its
    /// own: nothing mounted there is seen outside.
    static func inMountNamespace(_ mountScript: String, _ directory: String, cask args: [String]) throws -> Tool.Result {
        try Tool.run(args, prefix: ["/usr/bin/unshare", "-m", "sh", "-c", mountScript + " && shift && exec \"$@\"", "sh", directory])
    }

    static let readOnlyBind = "mount --bind \"$1\" \"$1\" && mount -o remount,ro,bind \"$1\""

    /// A read-only bind mount works here (root with unshare and mount; chmod does not stop root).
    static let canMountReadOnly: Bool = {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
        let dir = FileManager.default.temporaryDirectory.path + "/cask-ro-probe-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // `cask --version` runs once the mount is read-only and a write to it failed.
        let probe = try? inMountNamespace(readOnlyBind + " && ! touch \"$1/x\" 2>/dev/null", dir, cask: ["--version"])
        return probe?.status == 0
    }()

    @Test(.enabled(if: canMountReadOnly, "needs unshare -m and mount (root)"))
    func getOnAReadOnlyBindMountSaysWhy() throws {
        let s = Scratch()
        #expect(try Tool.run(["set", s.cache, "k", "v"]).status == 0)
        let r = try Self.inMountNamespace(Self.readOnlyBind, s.cache, cask: ["get", s.cache, "k"])
        #expect(r.status == 4, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("cask: \(s.cache) is on a read-only file system: cannot open file \(s.cache)/shard-"), "\(r.stderr)")
        #expect(r.stderr.contains("Read-only file system [errno \(EROFS)]"))
        #expect(r.stderr.contains("copy it somewhere writable"))
        // Outside the namespace the cache is as it was.
        #expect(try Tool.run(["get", s.cache, "k"]).text == "v")
    }
}
