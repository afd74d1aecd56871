import AsyncHTTPClient
import Cask
import Foundation
import NIOHTTP1
import Synchronization

/// Keeps fresh local copies of remote objects (http(s) URLs, S3-compatible objects) in a cache.
///
/// ``fetch(_:revalidateAfter:onUnreachable:)`` returns the local copy when it was checked less than
/// `revalidateAfter` ago; otherwise it asks the remote with the copy's validators (If-None-Match,
/// If-Modified-Since): 304 keeps the copy, 200 streams the new bytes into a value file, and only a
/// complete download replaces the copy. One fetch per object at a time across threads and
/// processes (a lock file per object): a fetch that waited for another one uses its result.
///
/// Call ``shutdown()`` when done (the HTTP client's connections are closed then).
public final class RemoteCache: Sendable {
    public let cache: Cache
    public let configuration: RemoteConfiguration
    let transport: HTTPTransport
    let local: LocalCopies
    private let isShutDown = Atomic<Bool>(false)

    public init(cache: Cache, configuration: RemoteConfiguration = RemoteConfiguration()) {
        self.cache = cache
        self.configuration = configuration
        transport = HTTPTransport(timeouts: configuration.timeouts)
        local = LocalCopies(cache: cache)
    }

    deinit {
        if !isShutDown.exchange(true, ordering: .acquiringAndReleasing) { try? transport.client.syncShutdown() }
    }

    /// Closes the HTTP client's connections. The remote cache is unusable afterwards.
    public func shutdown() async throws {
        guard !isShutDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        try await transport.shutdown()
    }

    /// ``fetch(_:revalidateAfter:onUnreachable:)`` for `s3://bucket/key` or an http(s) URL.
    public func fetch(_ location: String, revalidateAfter: Duration? = nil, onUnreachable: UnreachablePolicy? = nil) async throws -> RemoteCopy {
        try await fetch(RemoteObject(parsing: location), revalidateAfter: revalidateAfter, onUnreachable: onUnreachable)
    }

    /// The local copy of `object`, fresh per `revalidateAfter` (default: the configuration's).
    /// - Throws: ``RemoteError`` when there is no local copy and the remote cannot give the object,
    ///   or with `onUnreachable: .fail`; `CaskError` when the cache fails.
    public func fetch(_ object: RemoteObject, revalidateAfter: Duration? = nil, onUnreachable: UnreachablePolicy? = nil) async throws -> RemoteCopy {
        let after = Self.seconds(revalidateAfter ?? configuration.revalidateAfter)
        let policy = onUnreachable ?? configuration.onUnreachable
        let digest = object.keyDigest(configuration.s3)
        let local = self.local
        let started = Self.now()
        if after > 0, let copy = try await blocking({ try local.load(digest) }), started - copy.record.checkedAt < after {
            return Self.copy(copy, source: .cache, changed: false)
        }
        let lock = try Lock(cache: cache, name: "remote-\(digest)")
        return try await lock.withLock {
            let current = try await blocking { try local.load(digest) }
            if let current, current.record.checkedAt >= started || (after > 0 && Self.now() - current.record.checkedAt < after) {
                // Another fetch checked or downloaded it while this one waited for the lock.
                return Self.copy(current, source: .cache, changed: false)
            }
            return try await revalidate(object, digest: digest, current: current, policy: policy)
        }
    }

    /// Counts kept in the cache: downloads, 304 answers, stale copies served.
    public func statistics() throws -> RemoteStatistics { try local.statistics() }

    private func revalidate(_ object: RemoteObject, digest: String, current: LocalCopies.Local?, policy: UnreachablePolicy) async throws -> RemoteCopy {
        let url = requestURL(object)
        var request = RemoteRequest(method: .GET, url: url, headers: [:])
        if let w = current?.record.witness {
            if let etag = w.etag { request.headers.add(name: "if-none-match", value: etag) }
            if let date = w.lastModified { request.headers.add(name: "if-modified-since", value: date) }
        }
        let local = self.local
        do {
            let (response, finalURL) = try await transport.send(request, authorize: try authorizer(object))
            let status = Int(response.status.code)
            switch status {
            case 304 where current != nil:
                let current = current!
                let now = Self.now()
                try await blocking { try local.confirm(digest, bodyKey: current.record.bodyKey, now: now) }
                local.count("not-modified")
                var confirmed = current
                confirmed.record.checkedAt = max(current.record.checkedAt, now)
                return Self.copy(confirmed, source: .cache, changed: false)
            case 200:
                let (file, witness) = try await Download.receive(response, from: finalURL, into: cache)
                let now = Self.now()
                let shown = object.description
                let record = try await blocking { try local.commit(digest, file: file, object: shown, witness: witness, now: now) }
                local.count("downloads")
                guard let stored = try await blocking({ try local.load(digest) }), stored.record.bodyKey == record.bodyKey else {
                    throw RemoteError(.unreachable, "\(object): the copy was replaced while it was being stored; fetch again")
                }
                return Self.copy(stored, source: .network, changed: current?.record.witness.sha256 != witness.sha256)
            default:
                _ = try? await response.body.collect(upTo: 1 << 16)
                throw RemoteError.forStatus(status, finalURL)
            }
        } catch let error as RemoteError where error.kind != .invalidArgument {
            guard let current, policy == .serveStale else { throw error }
            local.count("stale")
            return Self.copy(current, source: .stale, changed: false, reason: error)
        }
    }

    func requestURL(_ object: RemoteObject) -> RemoteURL {
        switch object {
        case .http(let url): url
        case .s3(let bucket, let key): configuration.s3.url(bucket: bucket, key: key)
        }
    }

    /// Adds the credentials `object` needs, if configured; nil sends the request as it is.
    func authorizer(_ object: RemoteObject) throws -> Authorizer? {
        switch object {
        case .http:
            guard let token = configuration.bearerToken?.token else { return nil }
            return { request in request.headers.replaceOrAdd(name: "authorization", value: "Bearer \(token)") }
        case .s3:
            guard let credentials = configuration.s3.credentials else { return nil }
            let signer = SigV4Signer(credentials: credentials, region: configuration.s3.region)
            return { request in
                var headers = request.headers.map { (name: $0.name, value: $0.value) }
                signer.sign(method: request.method.rawValue, url: request.url, headers: &headers,
                            payloadHash: SigV4Signer.emptyPayloadHash, time: Int64(Self.now()))
                request.headers = HTTPHeaders(headers.map { ($0.name, $0.value) })
            }
        }
    }

    static func copy(_ l: LocalCopies.Local, source: RemoteCopy.Source, changed: Bool, reason: RemoteError? = nil) -> RemoteCopy {
        RemoteCopy(object: l.record.object, path: l.path, witness: l.record.witness, changed: changed, source: source,
                   fetchedAt: l.record.fetchedAt, checkedAt: l.record.checkedAt, staleReason: reason, reader: l.reader)
    }

    static func now() -> Double { Date().timeIntervalSince1970 }

    static func seconds(_ d: Duration) -> Double {
        let (s, a) = d.components
        return Double(s) + Double(a) / 1e18
    }
}
