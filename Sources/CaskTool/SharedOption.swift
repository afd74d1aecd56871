import Cask
import Foundation
#if canImport(CaskRemote)
import CaskRemote
#endif

/// The URL schemes `--shared` takes.
enum SharedTierURL {
    static let schemes = ["redis://", "rediss://", "redis-cluster://", "rediss-cluster://", "s3://"]
    static let expected = "redis[s]://host[:port], redis[s]-cluster://host:port[,host:port…] or s3://bucket[/prefix][?endpoint=URL]"

    static func isOne(_ url: String) -> Bool { schemes.contains { url.hasPrefix($0) } }
}

extension CacheLocation {
    /// The shared tier `--shared` names, attached to `cache` for this command; nil without the
    /// option. `redis://…`, `redis-cluster://…` URLs and their TLS forms `rediss://…`, `rediss-cluster://…`; the tier's calls are bounded by 50 ms
    /// each and never fail the command (they are counted in the cache's statistics).
    /// - Throws: ``ToolFailure`` (usage) for a URL that is not one of those, or in a build without
    ///   the remote module.
    func openSharedTier(_ cache: Cache) throws -> (any SecondTier)? {
        guard let url = shared else { return nil }
        #if canImport(CaskRemote)
        guard SharedTierURL.isOne(url) else {
            throw ToolFailure(message: "--shared: \(url): expected \(SharedTierURL.expected)", code: ExitCode.usage)
        }
        do {
            if url.hasPrefix("s3://") {
                return SharedCache(cache: cache, tier: try S3Tier(url: url, environment: ProcessInfo.processInfo.environment))
            }
            return SharedCache(cache: cache, tier: try RedisTier(url: url))
        } catch {
            throw ToolFailure(message: "--shared: \(error)", code: ExitCode.usage)
        }
        #else
        throw ToolFailure(message: "--shared: this cask was built without the remote module (CASK_WITHOUT_REMOTE)",
                          code: ExitCode.usage)
        #endif
    }
}

/// After a local removal with `--shared`: prints `shared <n>` (entries removed from the tier), or
/// fails (exit 4) if the tier did not answer — the local removal stands.
func reportShared(_ removed: Int?) throws {
    guard let removed else {
        throw ToolFailure(message: "--shared: the shared tier did not answer; removed from the local cache only",
                          code: ExitCode.failure)
    }
    print("shared \(removed)")
}
