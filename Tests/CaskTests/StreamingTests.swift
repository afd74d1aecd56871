import CaskTestSupport
import Foundation
import Testing
@testable import Cask

@Suite("Streaming and async")
struct StreamingTests {
    @Test func fileInAndReaderOut() throws {
        let fixture = try makeCache()
        let cache = fixture.cache
        let source = fixture.dir.path + "-input"
        let content = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try Data(content).write(to: URL(fileURLWithPath: source))
        defer { try? FileManager.default.removeItem(atPath: source) }
        try cache.set("file", contentsOfFile: source, tag: "media")
        let reader = try #require(try cache.openValue("file"))
        #expect(reader.size == content.count)
        var back: [UInt8] = []
        while true {
            let piece = try reader.read(upToCount: 1 << 20)
            if piece.isEmpty { break }
            #expect(piece.count <= 1 << 20)
            back += piece
        }
        #expect(back == content)
        // Replacing the entry does not disturb a reader that is already open.
        let second = try #require(try cache.openValue("file"))
        try cache.set("file", [1, 2, 3] as [UInt8])
        #expect(try second.read(upToCount: 10) == Array(content[0..<10]))
        #expect(try cache.get("file") == [1, 2, 3] as [UInt8])
        #expect(try cache.openValue("absent") == nil)
        #expect(throws: CaskError.self) { try cache.set("x", contentsOfFile: "/nonexistent/file") }
    }

    @Test func backgroundVariantsAndChunks() async throws {
        let fixture = try makeCache()
        let cache = fixture.cache
        try await cache.setInBackground("r", Report(id: 1, title: "async", scores: []))
        let r: Report? = try await cache.getInBackground("r")
        #expect(r?.title == "async")
        let stream = AsyncStream<[UInt8]> { c in
            for i in 0..<5 { c.yield([UInt8](repeating: UInt8(i), count: 400_000)) }
            c.finish()
        }
        try await cache.set("streamed", chunks: stream)
        let reader = try #require(try cache.openValue("streamed"))
        var total = 0
        for try await chunk in reader.chunks(of: 300_000) { total += chunk.count }
        #expect(total == 2_000_000)
        let report = try await cache.checkInBackground()
        #expect(report.isHealthy)
        let compacted = try await cache.compactInBackground()
        #expect(!compacted.isEmpty)
    }
}
