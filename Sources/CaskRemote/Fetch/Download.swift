import AsyncHTTPClient
import Cask
import Crypto
import NIOCore

/// Streams a response body into a new value file, hashing it on the way. Memory stays at one
/// chunk of the client's (backpressure holds the rest on the socket). Whatever goes wrong — the
/// connection breaks, the body is shorter than Content-Length, the disk is full — the temporary
/// file is removed and nothing in the cache changes.
enum Download {
    /// The largest body `cache` can keep: an entry may take at most its shard's share of the size
    /// limit (less room for its record), or it is evicted by its own write. Nil without a limit.
    static func largestBody(in cache: Cache) -> Int? {
        let c = cache.configuration
        guard c.evictionPolicy != .none else { return nil }
        return max(0, c.sizeLimit / max(1, c.shards) - 1024)
    }

    static func tooLarge(_ url: RemoteURL, _ size: Int, _ cache: Cache, _ limit: Int) -> RemoteError {
        let c = cache.configuration
        return RemoteError(.invalidArgument, "\(url.redacted): \(size) bytes or more do not fit this cache: an entry may take "
                           + "at most \(limit) bytes (its shard's share of the size limit, \(c.sizeLimit) bytes over \(c.shards) "
                           + "shards); raise the size limit (CacheSettings.sizeLimit)")
    }

    static func receive(_ response: HTTPClientResponse, from url: RemoteURL, into cache: Cache) async throws
        -> (FinishedValueFile, RemoteWitness) {
        let limit = largestBody(in: cache)
        if let limit, let declared = response.headers.first(name: "content-length").flatMap(Int.init), declared > limit {
            throw tooLarge(url, declared, cache, limit)
        }
        let writer = try cache.beginValueFile()
        var hasher = SHA256()
        var received = 0
        do {
            for try await buffer in response.body {
                received += buffer.readableBytes
                if let limit, received > limit { throw tooLarge(url, received, cache, limit) }
                try buffer.withUnsafeReadableBytes { raw in
                    hasher.update(bufferPointer: raw)
                    try writer.append(raw)
                }
            }
        } catch let error as RemoteError {
            writer.abandon()
            throw error
        } catch let error as CaskError {
            writer.abandon()
            throw error
        } catch is CancellationError {
            writer.abandon()
            throw CancellationError()
        } catch {
            writer.abandon()
            throw RemoteError(.unreachable, "\(url.redacted): the download broke off after \(received) bytes (\(HTTPTransport.describe(error)))")
        }
        if let declared = response.headers.first(name: "content-length").flatMap(Int.init), declared != received {
            writer.abandon()
            throw RemoteError(.unreachable, "\(url.redacted): received \(received) of \(declared) bytes")
        }
        let file = try await blocking { try writer.finish() }
        let h = response.headers
        let witness = RemoteWitness(etag: h.first(name: "etag"), lastModified: h.first(name: "last-modified"),
                                    versionID: h.first(name: "x-amz-version-id"), size: received,
                                    sha256: SigV4Signer.hex(hasher.finalize()))
        return (file, witness)
    }
}
