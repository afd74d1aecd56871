import CaskTestSupport
import Foundation
import Testing
@testable import Cask

/// The package-level hooks that fill a value file chunk by chunk (used by CaskRemote's downloads).
@Suite("Value files written chunk by chunk")
struct ValueFileWriterTests {
    func temporaryFiles(_ fixture: Fixture) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: fixture.dir.sub("values"))) ?? []).filter { $0.hasPrefix("tmp-") }
    }

    @Test func chunksBecomeAnEntryInOneTransaction() throws {
        let fixture = try makeCache()
        let cache = fixture.cache
        let writer = try cache.beginValueFile()
        var expected: [UInt8] = []
        for i in 0..<20 {
            let chunk = [UInt8](repeating: UInt8(i), count: 50_000 + i)
            try writer.append(chunk)
            expected += chunk
        }
        #expect(writer.size == expected.count)
        #expect(temporaryFiles(fixture).count == 1)
        let file = try writer.finish()
        #expect(temporaryFiles(fixture).isEmpty)
        try cache.transact { tx in
            try tx.setValueFile("body", file)
            try tx.set("meta", "for body")
        }
        let (path, reader) = try #require(try cache.openStoredValue("body"))
        #expect(reader.size == expected.count)
        #expect(try reader.read(upToCount: expected.count) == expected)
        #expect(FileManager.default.contents(atPath: try #require(path)) == Data(expected))
        #expect(try cache.get("body") == expected)
        // Appending after finishing is refused.
        #expect(throws: CaskError.self) { try writer.append([1]) }
    }

    @Test func abandonedOrDroppedWritersLeaveNothing() throws {
        let fixture = try makeCache()
        let cache = fixture.cache
        let abandoned = try cache.beginValueFile()
        try abandoned.append([1, 2, 3])
        abandoned.abandon()
        #expect(temporaryFiles(fixture).isEmpty)
        #expect(throws: CaskError.self) { _ = try abandoned.finish() }
        do {
            let dropped = try cache.beginValueFile()
            try dropped.append([4, 5, 6])
            #expect(temporaryFiles(fixture).count == 1)
        }
        #expect(temporaryFiles(fixture).isEmpty)
        // A finished file no entry took is removed when dropped, as any unused value file.
        do {
            let unused = try cache.beginValueFile()
            try unused.append([7])
            _ = try unused.finish()
        }
        let left = (try? FileManager.default.subpathsOfDirectory(atPath: fixture.dir.sub("values"))) ?? []
        #expect(left.filter { $0.hasSuffix(".val") }.isEmpty)
    }

    @Test func aFailedTransactionDoesNotKeepTheFile() throws {
        let fixture = try makeCache()
        let cache = fixture.cache
        try cache.set("body", [9, 9] as [UInt8])
        let writer = try cache.beginValueFile()
        try writer.append([1, 2, 3])
        let file = try writer.finish()
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try cache.transact { tx in
                try tx.setValueFile("body", file)
                throw Stop()
            }
        }
        file.discard()
        #expect(try cache.get("body") == [9, 9] as [UInt8])
        let left = (try? FileManager.default.subpathsOfDirectory(atPath: fixture.dir.sub("values"))) ?? []
        #expect(left.filter { $0.hasSuffix(".val") }.isEmpty)
    }
}
