import Cask
import CaskRemote
import CaskTestSupport
import Foundation

/// A cache on a fresh directory and a RemoteCache over it; shut down at the end of `body`, also
/// when it throws.
func withRemote<R>(_ configuration: RemoteConfiguration = RemoteConfiguration(), dir: TemporaryDirectory = TemporaryDirectory(),
                   _ body: (RemoteCache, TemporaryDirectory) async throws -> R) async throws -> R {
    let cache = try Cache(directory: dir.path, settings: CacheSettings(shards: 2))
    let remote = RemoteCache(cache: cache, configuration: configuration)
    do {
        let r = try await body(remote, dir)
        try await remote.shutdown()
        try cache.close()
        return r
    } catch {
        try? await remote.shutdown()
        try? cache.close()
        throw error
    }
}

/// Temporary files a download left in the cache's value directory.
func leftoverTemporaryFiles(_ dir: TemporaryDirectory) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir.sub("values"))) ?? []).filter { $0.hasPrefix("tmp-") }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Seconds `body` took.
func elapsed<R>(_ body: () async throws -> R) async rethrows -> (R, Double) {
    let start = ContinuousClock.now
    let r = try await body()
    let d = (ContinuousClock.now - start).components
    return (r, Double(d.seconds) + Double(d.attoseconds) / 1e18)
}
