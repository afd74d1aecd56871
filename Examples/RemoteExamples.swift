// README.md, "Remote sources": built only with CaskRemote (see CASK_WITHOUT_REMOTE in Package.swift).
#if canImport(CaskRemote)
import Cask
import CaskRemote

/// README, "Remote sources".
func readmeRemoteSources() async throws {
    let cache = try Cache(directory: "/var/cache/etl")
    // S3 endpoint, region and credentials from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
    // AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (or set `configuration.s3` yourself).
    var configuration = try RemoteConfiguration.fromEnvironment()
    configuration.revalidateAfter = .seconds(60)      // 0 (the default): ask the remote on every fetch
    let remote = RemoteCache(cache: cache, configuration: configuration)

    let copy = try await remote.fetch("s3://customer-drops/2026-11-30/customers.csv")
    print(copy.path!, copy.source, copy.changed)      // a file in the cache; .network / .cache / .stale
    let rows = try parse(copy.bytes())                // or read copy.reader piece by piece

    // The daily load, memoized: recomputed the next day, or as soon as the object's ETag changes.
    let drop = RemoteObject.s3(bucket: "customer-drops", key: "2026-11-30/customers.csv")
    let load = cache.memoize(name: "load-drop", validity: [.calendarPeriod(.day, in: .gmt),
                                                           .remoteObjects([drop], through: remote)]) {
        (day: String) async throws -> Int in try parse(await remote.fetch(drop).bytes())
    }
    let count = try await load("2026-11-30")
    try await remote.shutdown()
    _ = (rows, count)
}

/// Stands in for the application's own parser.
private func parse(_ bytes: [UInt8]) throws -> Int { bytes.count }
#endif
