import CaskTestSupport
import Foundation
import Testing
@testable import Cask

@Suite("Repair reports and never removes a newer value")
struct CheckRepairTests {
    func removeValueFiles(_ dir: TempDir) throws {
        let root = dir.path + "/values"
        for f in (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []) where f.hasSuffix(".val") {
            try FileManager.default.removeItem(atPath: root + "/" + f)
        }
    }

    @Test func repairNamesEveryRemovedKey() throws {
        let fixture = try makeCache(CacheSettings(minFileSize: 512))
        let cache = fixture.cache
        try cache.set("lost-a", [UInt8](repeating: 1, count: 2000))
        try cache.set(42, [UInt8](repeating: 2, count: 2000))
        try removeValueFiles(fixture.dir)
        try cache.set("kept", [UInt8](repeating: 3, count: 10))
        let fixed = try cache.check(fix: true)
        #expect(fixed.isHealthy && fixed.repaired)
        #expect(Set(fixed.removedKeys.map(\.description)) == ["lost-a", "42"])
        #expect(fixed.keptKeys.isEmpty)
        #expect(try cache.keys().map(\.description) == ["kept"])
    }

    /// The check flags a key; the key is rewritten before the repair runs; the repair keeps it.
    @Test func aKeyRewrittenBetweenCheckAndRepairSurvives() throws {
        let fixture = try makeCache(CacheSettings(minFileSize: 512))
        let cache = fixture.cache
        try cache.set("busy", [UInt8](repeating: 1, count: 2000))
        try cache.set("inline", [UInt8](repeating: 1, count: 2000))
        try cache.set("gone", [UInt8](repeating: 1, count: 2000))
        try removeValueFiles(fixture.dir)
        let found = try cache.check()
        #expect(found.missingValueFiles.count == 3)
        let newer = [UInt8](repeating: 9, count: 3000)
        try cache.set("busy", newer)
        try cache.set("inline", [UInt8]([7]))
        let fixed = try cache.repair(found)
        #expect(try cache.get("busy") == newer)
        #expect(try cache.get("inline") == [UInt8]([7]))
        #expect(try cache.get("gone") == nil)
        #expect(fixed.removedKeys.map(\.description) == ["gone"])
        #expect(Set(fixed.keptKeys.map(\.description)) == ["busy", "inline"])
        #expect(fixed.isHealthy)
    }
}
