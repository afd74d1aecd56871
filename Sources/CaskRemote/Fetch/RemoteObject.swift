import Crypto

/// Something remote that a cache keeps a local copy of.
public enum RemoteObject: Sendable, Hashable, CustomStringConvertible {
    /// An http or https URL (sent with a bearer token when one is configured).
    case http(RemoteURL)
    /// An object in S3-compatible storage, addressed and signed per ``S3Configuration``.
    case s3(bucket: String, key: String)

    /// Parses `s3://bucket/key`, `http://…` or `https://…`.
    public init(parsing string: String) throws {
        if string.lowercased().hasPrefix("s3://") {
            let rest = string.dropFirst(5)
            guard let slash = rest.firstIndex(of: "/"), slash != rest.startIndex, rest.index(after: slash) != rest.endIndex else {
                throw RemoteError(.invalidArgument, "an S3 location is s3://bucket/key")
            }
            self = .s3(bucket: String(rest[..<slash]), key: String(rest[rest.index(after: slash)...]))
        } else {
            self = .http(try RemoteURL(parsing: string))
        }
    }

    public var description: String {
        switch self {
        case .http(let url): url.redacted
        case .s3(let bucket, let key): "s3://\(bucket)/\(key)"
        }
    }

    /// What names the local copy: the object and, for S3, the endpoint it lives behind (the same
    /// bucket and key elsewhere is another object). Hashed into the cache's keys, so a URL's
    /// query (a pre-signed URL's signature) never appears in the cache directory in clear.
    func identity(_ s3: S3Configuration) -> String {
        switch self {
        case .http(let url): return url.description
        case .s3(let bucket, let key): return "s3|\(s3.url(bucket: bucket, key: key).description)"
        }
    }

    func keyDigest(_ s3: S3Configuration) -> String {
        SigV4Signer.hex(SHA256.hash(data: Array(identity(s3).utf8)))
    }
}
