import CaskTestSupport
import Foundation
import Testing
@testable import Cask

@Suite("Check and repair")
struct CheckTests {
    func valueFiles(_ dir: TempDir) -> [String] {
        (FileManager.default.enumerator(atPath: dir.path + "/values")?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".val") }
    }

    @Test func healthyCacheChecksClean() throws {
        let fixture = try makeCache(CacheSettings(minFileSize: 512))
        let cache = fixture.cache
        for i in 0..<50 { try cache.set("k\(i)", [UInt8](repeating: UInt8(i), count: i * 20)) }
        let r = try cache.check()
        #expect(r.isHealthy)
        #expect(r.recordsScanned == 50)
    }

    /// An old cache (every file older than the orphan age) has no orphans, and repairing it never
    /// touches anything outside the values directory.
    @Test func oldFilesAreNotOrphans() throws {
        let fixture = try makeCache(CacheSettings(minFileSize: 512))
        let (cache, dir) = (fixture.cache, fixture.dir)
        try cache.set("big", [UInt8](repeating: 1, count: 4096))
        try cache.set("small", "x")
        let old = Date(timeIntervalSinceNow: -7200)
        for item in (FileManager.default.enumerator(atPath: dir.path)?.allObjects as? [String]) ?? [] {
            try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: dir.path + "/" + item)
        }
        let found = try cache.check()
        #expect(found.orphanValueFiles.isEmpty, "\(found.orphanValueFiles)")
        #expect(found.isHealthy)
        _ = try cache.check(fix: true)
        #expect(FileManager.default.fileExists(atPath: dir.path + "/cask.meta"))
        #expect(try cache.get("big") == [UInt8](repeating: 1, count: 4096))
    }

    @Test func findsAndRepairsValueFileDamage() throws {
        let fixture = try makeCache(CacheSettings(minFileSize: 512))
        let (cache, dir) = (fixture.cache, fixture.dir)
        for i in 0..<6 { try cache.set("big\(i)", [UInt8](repeating: UInt8(i), count: 2000)) }
        let files = valueFiles(dir).sorted()
        #expect(files.count == 6)
        try FileManager.default.removeItem(atPath: dir.path + "/values/" + files[0])
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir.path + "/values/" + files[1]))
        let orphan = dir.path + "/values/" + String(files[2].prefix(2)) + "/orphan0000000000000000000000000.val"
        _ = FileManager.default.createFile(atPath: orphan, contents: Data([9]),
                                       attributes: [.modificationDate: Date(timeIntervalSinceNow: -3600)])
        let found = try cache.check()
        #expect(!found.isHealthy)
        #expect(found.missingValueFiles.count == 1)
        #expect(found.sizeMismatches.count == 1)
        #expect(found.orphanValueFiles.count == 1)
        let fixed = try cache.check(fix: true)
        #expect(fixed.repaired)
        #expect(fixed.isHealthy)
        #expect(try cache.count == 4)
        // The damaged entries are gone, never returned wrong.
        var readable = 0
        for i in 0..<6 { if try cache.get("big\(i)") == [UInt8](repeating: UInt8(i), count: 2000) { readable += 1 } }
        #expect(readable == 4)
    }

    @Test func findsAndRepairsLogCorruptionKeepingUndamagedRecords() throws {
        let dir = TempDir()
        do {
            let fixture = try makeCache(CacheSettings(shards: 1), dir: dir)
        let c = fixture.cache
            for i in 0..<100 { try c.set("k\(i)", "value-\(i)") }
            try c.close()
        }
        // Flip a byte in the middle of the records, then write garbage right after the last one,
        // into the zeros of the space allocated ahead (the last record's value ends in a digit).
        let log = dir.path + "/shard-000/00000001.log"
        var bytes = [UInt8](FileManager.default.contents(atPath: log)!)
        let end = bytes.lastIndex(where: { $0 != 0 })! + 1
        bytes[end / 2] ^= 0xFF
        if bytes.count < end + 5 { bytes += [UInt8](repeating: 0, count: end + 5 - bytes.count) }
        bytes.replaceSubrange(end..<end + 5, with: [1, 2, 3, 4, 5])
        try Data(bytes).write(to: URL(fileURLWithPath: log))
        let fixture = try makeCache(CacheSettings(shards: 1), dir: dir)
        let cache = fixture.cache
        // Opening already dropped the torn tail and skipped the damaged record.
        #expect(cache.store.recoveryReport.truncatedBytes == 5)
        let found = try cache.check()
        #expect(found.corruptRanges.count == 1)
        let fixed = try cache.check(fix: true)
        #expect(fixed.isHealthy)
        var intact = 0
        for i in 0..<100 {
            let v = try cache.get("k\(i)", as: String.self)
            if let v { #expect(v == "value-\(i)"); intact += 1 }
        }
        #expect(intact == 99, "exactly the damaged record is lost")
        // After the repair a reopen is clean.
        try cache.close()
        let reopened = try makeCache(CacheSettings(shards: 1), dir: dir)
        let again = reopened.cache
        #expect(again.store.recoveryReport.isClean)
        #expect(try again.count == 99)
    }
}
