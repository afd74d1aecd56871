import CaskTestSupport
import Foundation
import Testing
@testable import Cask

@Suite("Source files behind symbolic links")
struct SourceFilesLinkTests {
    /// A symlink inside a listed directory is followed: a change to its target is a change.
    @Test(arguments: [false, true])
    func directoryFollowsSymlinks(contentHash: Bool) throws {
        let f = try makeCache()
        let dir = TempDir(), outside = TempDir()
        try "one".write(toFile: outside.path + "/data.txt", atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: outside.path + "/tree", withIntermediateDirectories: true)
        try "a".write(toFile: outside.path + "/tree/a.txt", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/link", withDestinationPath: outside.path + "/data.txt")
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/linked-tree", withDestinationPath: outside.path + "/tree")
        // A loop: followed once, not forever.
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/loop", withDestinationPath: dir.path)
        let runs = Counter()
        let g = f.cache.memoize(name: "g", validity: [.sourceFiles([dir.path], contentHash: contentHash)]) { (x: Int) in runs.bump() }
        #expect(try g(0) == 1 && g(0) == 1)
        try "three".write(toFile: outside.path + "/data.txt", atomically: false, encoding: .utf8)
        #expect(try g(0) == 2, "the link's target changed")
        #expect(try g(0) == 2)
        try "bb".write(toFile: outside.path + "/tree/a.txt", atomically: false, encoding: .utf8)
        #expect(try g(0) == 3, "a file in a linked directory changed")
        #expect(try g(0) == 3)
    }
}
