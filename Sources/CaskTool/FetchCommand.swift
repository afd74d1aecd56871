// `cask fetch` exists only in builds with CaskRemote (see CASK_WITHOUT_REMOTE in Package.swift).
#if canImport(CaskRemote)
import ArgumentParser
import Cask
import CaskBench
import CaskRemote
import Dispatch
import Foundation

struct FetchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Keep a fresh local copy of a remote object (http(s) URL or s3://bucket/key) and print its path.",
        discussion: """
            S3 credentials, region and endpoint come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, \
            AWS_SESSION_TOKEN, AWS_REGION and AWS_ENDPOINT_URL. Exit 0 with a copy (also a stale one \
            when the remote cannot be reached); 1 the object does not exist and there is no local copy; \
            4 network or credential failure and no local copy.
            """)
    @OptionGroup var location: CacheLocation
    @Argument(help: "The object: https://…, http://… or s3://bucket/key.") var url: String
    @Option(name: .customLong("revalidate-after"), help: "Seconds a checked copy is used without asking the remote (default 0: ask each time).")
    var revalidateAfter: Double?
    @Option(help: "S3 endpoint URL (overrides AWS_ENDPOINT_URL).") var endpoint: String?
    @Option(name: .customLong("timeout"), help: "Seconds allowed for connecting, and for each wait for data (default 10 and 30).")
    var timeout: Double?
    @Option(name: .customLong("size-limit"), help: ArgumentHelp(
        "Store this size limit (bytes, e.g. 8GiB) in the cache's settings.",
        discussion: "An object may take at most its shard's share of the limit (limit / shards); a larger one is refused."))
    var sizeLimit: ByteSizes?
    @Flag(help: "Print one JSON object: path, changed, etag, last_modified, size, source.") var json = false
    @Option(name: .customLong("repeat"), help: ArgumentHelp(
        "Fetch again this many times in this process and print their latency (p50, p90, p99, max) to stderr.",
        discussion: "With --revalidate-after 0 each is one conditional request on a kept connection: the revalidation cost."))
    var repeats: Int = 0

    func validate() throws {
        if let revalidateAfter, !(revalidateAfter >= 0 && revalidateAfter.isFinite) {
            throw ValidationError("--revalidate-after must be a number of seconds, 0 or more")
        }
        if let timeout, !(timeout > 0 && timeout.isFinite) { throw ValidationError("--timeout must be a positive number of seconds") }
        if repeats < 0 { throw ValidationError("--repeat must be 0 or more") }
        if let sizeLimit, sizeLimit.single == nil { throw ValidationError("--size-limit takes one byte count, like 8GiB") }
    }

    func run() throws {
        var configuration: RemoteConfiguration
        let object: RemoteObject
        do {
            configuration = try RemoteConfiguration.fromEnvironment()
            if let endpoint { configuration.s3.endpoint = try RemoteURL(parsing: endpoint) }
            object = try RemoteObject(parsing: url)
        } catch let error as RemoteError {
            throw ToolFailure(message: error.description, code: Self.exitCode(error))
        }
        if let timeout { configuration.timeouts = RemoteTimeouts(connect: .seconds(timeout), request: .seconds(timeout)) }
        configuration.revalidateAfter = .seconds(revalidateAfter ?? 0)
        let cache = try location.open(create: true, sizeLimit: sizeLimit?.single)
        let remote = RemoteCache(cache: cache, configuration: configuration)
        let repeats = repeats
        let result = waitFor { () async -> Result<RemoteCopy, any Error> in
            var r = await Result(awaiting: { try await remote.fetch(object) })
            if case .success = r, repeats > 0 {
                var nanos: [UInt32] = []
                for _ in 0..<repeats {
                    let start = ContinuousClock.now
                    r = await Result(awaiting: { try await remote.fetch(object) })
                    let (seconds, attoseconds) = (ContinuousClock.now - start).components
                    nanos.append(UInt32(clamping: seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
                    if case .failure = r { break }
                }
                Self.report(LatencySummary(nanos: nanos, misses: 0), remote)
            }
            try? await remote.shutdown()
            return r
        }
        let copy: RemoteCopy
        do {
            copy = try result.get()
        } catch let error as RemoteError {
            try? cache.close()
            throw ToolFailure(message: error.description, code: Self.exitCode(error))
        }
        if copy.source == .stale, let reason = copy.staleReason { Console.error("serving a stale copy: \(reason)") }
        if json {
            let object: [String: Any] = [
                "path": copy.path ?? NSNull(), "changed": copy.changed, "etag": copy.witness.etag ?? NSNull(),
                "last_modified": copy.witness.lastModified ?? NSNull(), "size": copy.size, "source": copy.source.rawValue,
            ]
            print(jsonString(object))
        } else {
            print(copy.path ?? "")
        }
        try cache.close()
    }

    /// The latency of the repeated fetches, and what the remote answered.
    static func report(_ s: LatencySummary, _ remote: RemoteCache) {
        func ms(_ micros: Double) -> String { String(format: "%.2f ms", micros / 1000) }
        let stats = try? remote.statistics()
        FileHandle.standardError.write(Data(("\(s.count) fetches: p50 \(ms(s.medianMicros)), p90 \(ms(s.p90Micros)), "
            + "p99 \(ms(s.p99Micros)), max \(ms(s.maxMicros))"
            + (stats.map { "; counted in the cache: \($0.notModified) not modified (304), \($0.downloads) downloaded" } ?? "") + "\n").utf8))
    }

    static func exitCode(_ error: RemoteError) -> Int32 {
        switch error.kind {
        case .notFound: ExitCode.notFound
        case .invalidArgument: ExitCode.usage
        case .credentials, .unreachable, .unexpectedStatus: ExitCode.failure
        }
    }
}

extension Result where Failure == any Error {
    init(awaiting body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// Runs async work from the synchronous command and waits for it (the main thread is not one of
/// the task pool's threads, so blocking it here starves nothing).
func waitFor<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
    let box = AsyncResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        box.value = await work()
        done.signal()
    }
    done.wait()
    return box.value!
}

private final class AsyncResultBox<T: Sendable>: @unchecked Sendable {
    // @unchecked: written once before the semaphore is signalled, read after the wait.
    var value: T?
}
#endif
