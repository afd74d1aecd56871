import Cask
import CaskTestSupport
import Foundation
import Synchronization
import Testing
@testable import CaskRemote

/// Memoized results valid while remote objects are unchanged, against SeaweedFS's S3 gateway. In
/// the S3 suite, which runs its tests one at a time: one `weed` server at a time on the machine.
extension S3FetchTests {
    @Test func dailyLoadNoticesASameSizeReuploadThroughTheETag() async throws {
        let server = try await SeaweedServer(bucket: bucket)
        defer { server.stop() }
        let s3 = server.configuration()
        let writer = S3TestClient(s3)
        let key = "drops/customers.csv"
        #expect(try await writer.put(bucket, key, bytes("id,name\n1,ada\n")) == 200)
        let object = RemoteObject.s3(bucket: bucket, key: key)
        let clock = ManualClock(now: 1_767_258_000)   // 2026-01-01 09:00 UTC
        let dir = TemporaryDirectory()
        let cache = try Cache(directory: dir.path, settings: CacheSettings(shards: 2), clock: clock)
        let timeouts = RemoteTimeouts(connect: .seconds(2), request: .seconds(2))
        let remote = RemoteCache(cache: cache, configuration: RemoteConfiguration(s3: s3, timeouts: timeouts))
        do {
            try await memoizedScenario(server, writer, object, clock, remote)
            try await remote.shutdown()
            try cache.close()
        } catch {
            try? await remote.shutdown()
            try? cache.close()
            throw error
        }
    }

    func memoizedScenario(_ server: SeaweedServer, _ writer: S3TestClient, _ object: RemoteObject, _ clock: ManualClock, _ remote: RemoteCache) async throws {
        guard case .s3(let bucket, let key) = object else { return }
        let utc = TimeZone(identifier: "UTC")!
        let runs = Runs()
        let text = { @Sendable (copy: RemoteCopy) throws -> String in String(decoding: try copy.bytes(), as: UTF8.self) }
        let load = remote.cache.memoize(name: "load", validity: [.calendarPeriod(.day, in: utc), .remoteObjects([object], through: remote)]) {
            (day: String) async throws -> String in
            runs.bump()
            return try text(await remote.fetch(object))
        }
        // The daily load: computed once, then served after the remote answered 304.
        #expect(try await load("2026-01-01") == "id,name\n1,ada\n" && runs.value == 1)
        let notModified = try remote.statistics().notModified
        #expect(try await load("2026-01-01") == "id,name\n1,ada\n" && runs.value == 1)
        #expect(try remote.statistics().notModified > notModified, "the hit asked the remote")
        let first = try await remote.fetch(object).witness

        // Fixed and uploaded again at once, same size: Last-Modified (1 s) may not move, the ETag does.
        #expect(try await writer.put(bucket, key, bytes("id,name\n1,bob\n")) == 200)
        #expect(try await load("2026-01-01") == "id,name\n1,bob\n" && runs.value == 2)
        let second = try await remote.fetch(object).witness
        #expect(second.etag != first.etag && second.size == first.size)
        #expect(try await load("2026-01-01") == "id,name\n1,bob\n" && runs.value == 2)

        // The next day the daily rule recomputes on its own.
        clock.advance(by: 86_400)
        #expect(try await load("2026-01-01") == "id,name\n1,bob\n" && runs.value == 3)

        // revalidateAfter: within it, no round trip, so a new upload is not seen yet...
        let lazy = remote.cache.memoize(name: "lazy", validity: [.remoteObjects([object], through: remote, revalidateAfter: .seconds(600))]) {
            (day: String) async throws -> String in
            runs.bump()
            return try text(await remote.fetch(object, revalidateAfter: .seconds(600)))
        }
        #expect(try await lazy("d") == "id,name\n1,bob\n" && runs.value == 4)
        #expect(try await writer.put(bucket, key, bytes("id,name\n1,cyd\n")) == 200)
        let asked = try remote.statistics()
        #expect(try await lazy("d") == "id,name\n1,bob\n" && runs.value == 4)
        #expect(try remote.statistics() == asked, "no request within revalidateAfter")
        // ...until a fetch brings the new version in: then its witness differs.
        #expect(try await load("2026-01-01") == "id,name\n1,cyd\n" && runs.value == 5)
        #expect(try await lazy("d") == "id,name\n1,cyd\n" && runs.value == 6)

        // A synchronous memoized function, called from a thread of its own.
        let sizes = remote.cache.memoize(name: "size", validity: [.remoteObjects([object], through: remote)]) { (x: Int) -> Int in
            runs.bump()
            return x
        }
        #expect(try await onThread { try sizes(7) } == 7 && runs.value == 7)
        #expect(try await onThread { try sizes(7) } == 7 && runs.value == 7)

        let strict = remote.cache.memoize(name: "strict", validity: [.remoteObjects([object], through: remote, onUnreachable: .fail)]) {
            (day: String) async throws -> String in
            runs.bump()
            return "computed"
        }
        #expect(try await strict("2026-01-01") == "computed" && runs.value == 8)

        // The server is gone: the result computed from the last copy is served, and counted stale.
        server.stop()
        let stale = try remote.statistics().staleServed
        #expect(try await load("2026-01-01") == "id,name\n1,cyd\n" && runs.value == 8)
        #expect(try remote.statistics().staleServed > stale)
        let error = await #expect(throws: RemoteError.self) { _ = try await strict("2026-01-01") }
        #expect(error?.kind == .unreachable && runs.value == 8)
    }
}

/// Counts how many times a memoized body ran.
final class Runs: Sendable {
    private let n = Mutex(0)
    @discardableResult func bump() -> Int { n.withLock { $0 += 1; return $0 } }
    var value: Int { n.withLock { $0 } }
}

/// Runs blocking work on a thread of its own (not on the cooperative pool) and awaits it.
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
