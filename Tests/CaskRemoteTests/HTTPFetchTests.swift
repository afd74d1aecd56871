import Cask
import CaskTestSupport
import Foundation
import Testing
@testable import CaskRemote

/// Fetching through a real HTTP server (Servers/origin.py) on loopback.
@Suite("Remote HTTP sources", .serialized)
struct HTTPFetchTests {
    @Test func revalidationKeepsTheCopyOn304() async throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        try origin.put("daily.csv", bytes("id,value\n1,10\n"))
        try await withRemote { remote, _ in
            let first = try await remote.fetch(origin.url("/files/daily.csv"))
            #expect(first.source == .network && first.changed)
            #expect(try first.bytes() == bytes("id,value\n1,10\n"))
            let path = try #require(first.path)
            #expect(FileManager.default.contents(atPath: path) == Data("id,value\n1,10\n".utf8))
            #expect(first.witness.etag != nil && first.witness.lastModified != nil && first.witness.size == 14)

            let second = try await remote.fetch(origin.url("/files/daily.csv"))
            #expect(second.source == .cache && !second.changed)
            #expect(try second.bytes() == bytes("id,value\n1,10\n"))
            #expect(try await origin.counts("daily.csv") == (1, 1))

            // Within revalidateAfter the remote is not asked at all.
            let third = try await remote.fetch(origin.url("/files/daily.csv"), revalidateAfter: .seconds(3600))
            #expect(third.source == .cache)
            #expect(try await origin.counts("daily.csv") == (1, 1))
            #expect(try remote.statistics() == RemoteStatistics(downloads: 1, notModified: 1, staleServed: 0))
        }
    }

    @Test func sameSecondSameSizeReuploadIsSeenThroughTheETag() async throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        let second = 1_795_000_000
        try origin.put("drop.csv", bytes("version-A"), mtime: second)
        try await withRemote { remote, _ in
            let a = try await remote.fetch(origin.url("/files/drop.csv"))
            // Same size, same Last-Modified second: only the ETag differs.
            try origin.put("drop.csv", bytes("version-B"), mtime: second)
            let b = try await remote.fetch(origin.url("/files/drop.csv"))
            #expect(a.witness.lastModified == b.witness.lastModified && a.witness.etag != b.witness.etag)
            #expect(b.source == .network && b.changed)
            #expect(try b.bytes() == bytes("version-B"))
        }
    }

    @Test func serverWithoutValidatorsIsDownloadedEachTimeAndCompared() async throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        try origin.put("plain.txt", bytes("one"))
        try await withRemote { remote, _ in
            let first = try await remote.fetch(origin.url("/plain/plain.txt"))
            #expect(first.witness.etag == nil && first.witness.lastModified == nil && first.changed)
            let again = try await remote.fetch(origin.url("/plain/plain.txt"))
            #expect(again.source == .network && !again.changed)
            try origin.put("plain.txt", bytes("two"))
            let changed = try await remote.fetch(origin.url("/plain/plain.txt"))
            #expect(try changed.changed && (changed.bytes()) == bytes("two"))
            #expect(try await origin.counts("plain.txt") == (3, 0))
        }
    }

    @Test func brokenDownloadKeepsTheGoodCopyAndLeavesNoTemporaryFile() async throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        let good = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try origin.put("big.bin", good)
        try await withRemote { remote, dir in
            _ = try await remote.fetch(origin.url("/files/big.bin"))
            try origin.put("big.bin", good.reversed())
            try origin.mark("big.bin", "truncate", on: true)
            let stale = try await remote.fetch(origin.url("/files/big.bin"))
            #expect(stale.source == .stale && stale.staleReason?.kind == .unreachable)
            #expect(try stale.bytes() == good)
            #expect(leftoverTemporaryFiles(dir).isEmpty)
            await #expect(throws: RemoteError.self) {
                _ = try await remote.fetch(origin.url("/files/big.bin"), onUnreachable: .fail)
            }
            #expect(leftoverTemporaryFiles(dir).isEmpty)
            try origin.mark("big.bin", "truncate", on: false)
            let fixed = try await remote.fetch(origin.url("/files/big.bin"))
            #expect(try fixed.changed && (fixed.bytes()) == Array(good.reversed()))
            #expect(try remote.statistics().staleServed == 1)
        }
    }

    /// An object larger than an entry of the cache may be (its shard's share of the size limit) is
    /// refused with that reason before its body is stored, and the copy already there stays.
    @Test func objectLargerThanTheCacheCanKeepIsRefusedUpFront() async throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        let dir = TemporaryDirectory()
        // 2 shards and 256 KiB: an entry may take at most 127 KiB.
        let cache = try Cache(directory: dir.path, settings: CacheSettings(shards: 2, sizeLimit: 256 << 10))
        let remote = RemoteCache(cache: cache, configuration: RemoteConfiguration())
        defer { try? cache.close() }
        let fits = [UInt8](repeating: 1, count: 100 << 10), big = [UInt8](repeating: 2, count: 200 << 10)
        try origin.put("object.bin", fits)
        let first = try await remote.fetch(origin.url("/files/object.bin"))
        #expect(try first.bytes() == fits)
        try origin.put("object.bin", big)
        let error = await #expect(throws: RemoteError.self) { _ = try await remote.fetch(origin.url("/files/object.bin")) }
        #expect(error?.kind == .invalidArgument)
        #expect(error?.message.contains("size limit") == true, "\(String(describing: error))")
        #expect(leftoverTemporaryFiles(dir).isEmpty)
        try await remote.shutdown()
        try cache.close()
        let kept = try await withRemote(dir: dir) { remote, _ in
            try await remote.fetch(origin.url("/files/object.bin"), revalidateAfter: .seconds(3600))
        }
        #expect(try kept.bytes() == fits)
    }

    @Test func stoppedServerServesStaleWithinTheTimeout() async throws {
        let origin = try OriginServer()
        try origin.put("f.txt", bytes("kept"))
        let url = origin.url("/files/f.txt")
        let timeouts = RemoteTimeouts(connect: .seconds(2), request: .seconds(2))
        try await withRemote(RemoteConfiguration(timeouts: timeouts)) { remote, _ in
            _ = try await remote.fetch(url)
            origin.stop()
            let (copy, seconds) = try await elapsed { try await remote.fetch(url) }
            #expect(try copy.source == .stale && (copy.bytes()) == bytes("kept"))
            #expect(seconds < 5)
            let error = await #expect(throws: RemoteError.self) { _ = try await remote.fetch(url, onUnreachable: .fail) }
            #expect(error?.kind == .unreachable)
        }
        // No local copy: the failure is the caller's.
        try await withRemote(RemoteConfiguration(timeouts: timeouts)) { remote, _ in
            let error = await #expect(throws: RemoteError.self) { _ = try await remote.fetch(url) }
            #expect(error?.kind == .unreachable)
        }
    }

    @Test func stalledServerIsBoundedByTheRequestTimeout() async throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        try origin.put("slow.txt", bytes("old"))
        let timeouts = RemoteTimeouts(connect: .seconds(2), request: .milliseconds(700))
        try await withRemote(RemoteConfiguration(timeouts: timeouts)) { remote, _ in
            _ = try await remote.fetch(origin.url("/files/slow.txt"))
            try origin.mark("slow.txt", "stall", on: true)
            defer { try? origin.mark("slow.txt", "stall", on: false) }
            let (copy, seconds) = try await elapsed { try await remote.fetch(origin.url("/files/slow.txt")) }
            #expect(copy.source == .stale)
            #expect(seconds < 4)
        }
    }

    @Test func deletedObject() async throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        try origin.put("gone.txt", bytes("last version"))
        try await withRemote { remote, _ in
            let missing = await #expect(throws: RemoteError.self) { _ = try await remote.fetch(origin.url("/files/never.txt")) }
            #expect(missing?.kind == .notFound && missing?.status == 404)
            _ = try await remote.fetch(origin.url("/files/gone.txt"))
            try origin.remove("gone.txt")
            let stale = try await remote.fetch(origin.url("/files/gone.txt"))
            #expect(stale.source == .stale && stale.staleReason?.kind == .notFound)
            let failed = await #expect(throws: RemoteError.self) {
                _ = try await remote.fetch(origin.url("/files/gone.txt"), onUnreachable: .fail)
            }
            #expect(failed?.kind == .notFound)
        }
    }

    @Test func bearerTokenStaysOnItsOrigin() async throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        let config = RemoteConfiguration(bearerToken: BearerToken("t0ken"))
        try await withRemote(config) { remote, _ in
            let direct = try await remote.fetch(origin.url("/auth"))
            #expect(try direct.bytes() == bytes("authorization: present"))
            let sameOrigin = try await remote.fetch(origin.url("/redirect?to=/auth%3Fhop"))
            #expect(try sameOrigin.bytes() == bytes("authorization: present"))
            // "localhost" is another origin than "127.0.0.1", though the same server.
            let elsewhere = "http://localhost:\(origin.port)/auth"
            let other = try await remote.fetch(origin.url("/redirect?to=" + elsewhere))
            #expect(try other.bytes() == bytes("authorization: absent"))
        }
    }

    @Test func concurrentFetchesDownloadOnce() async throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        let content = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        try origin.put("shared.bin", content)
        try await withRemote { remote, _ in
            let copies = try await withThrowingTaskGroup(of: RemoteCopy.self) { group in
                for _ in 0..<6 { group.addTask { try await remote.fetch(origin.url("/files/shared.bin")) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(copies.filter { $0.source == .network }.count == 1)
            for c in copies { #expect(try c.bytes() == content) }
            #expect(try await origin.counts("shared.bin").ok == 1)
        }
    }
}
