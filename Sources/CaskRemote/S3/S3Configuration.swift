/// Where S3 objects live and how requests to them are addressed and signed.
public struct S3Configuration: Sendable, Equatable {
    /// How the bucket appears in a request's URL.
    public enum Addressing: Sendable, Equatable {
        /// `https://endpoint/bucket/key`.
        case path
        /// `https://bucket.endpoint/key`.
        case virtualHosted
        /// Virtual-hosted on AWS's own endpoints for names that allow it, path-style elsewhere
        /// (S3-compatible servers on an explicit endpoint mostly expect path-style).
        case automatic
    }

    /// The signing region (`AWS_REGION`, else `AWS_DEFAULT_REGION`, else us-east-1).
    public var region: String
    /// The service endpoint, e.g. `http://127.0.0.1:8333` (`AWS_ENDPOINT_URL`); nil for AWS's
    /// regional endpoint `https://s3.<region>.amazonaws.com`.
    public var endpoint: RemoteURL?
    public var addressing: Addressing
    /// nil sends requests unsigned (public buckets).
    public var credentials: S3Credentials?

    public init(region: String = "us-east-1", endpoint: RemoteURL? = nil, addressing: Addressing = .automatic,
                credentials: S3Credentials? = nil) {
        self.region = region
        self.endpoint = endpoint
        self.addressing = addressing
        self.credentials = credentials
    }

    /// Google Cloud Storage through its S3-compatible XML API: endpoint
    /// `https://storage.googleapis.com`, signing region `auto`, and an HMAC key (access id and
    /// secret) of a service account as `credentials`. Path-style unless `addressing` says
    /// `.virtualHosted` (`https://bucket.storage.googleapis.com/key`). The same as setting
    /// `AWS_ENDPOINT_URL=https://storage.googleapis.com` and `AWS_REGION=auto`.
    public static func googleCloudStorage(credentials: S3Credentials?, addressing: Addressing = .automatic) -> S3Configuration {
        S3Configuration(region: "auto", endpoint: RemoteURL(scheme: "https", host: "storage.googleapis.com", path: "/"),
                        addressing: addressing, credentials: credentials)
    }

    /// From the standard AWS variables. An unusable `AWS_ENDPOINT_URL` is an error.
    public static func fromEnvironment(_ environment: [String: String]) throws -> S3Configuration {
        let region = [environment["AWS_REGION"], environment["AWS_DEFAULT_REGION"]].compactMap { $0 }.first { !$0.isEmpty }
        var endpoint: RemoteURL?
        if let e = environment["AWS_ENDPOINT_URL"], !e.isEmpty { endpoint = try RemoteURL(parsing: e) }
        return S3Configuration(region: region ?? "us-east-1", endpoint: endpoint,
                               credentials: S3Credentials.fromEnvironment(environment))
    }

    /// The URL of `key` in `bucket`.
    public func url(bucket: String, key: String) -> RemoteURL {
        let base = endpoint ?? RemoteURL(scheme: "https", host: "s3.\(region).amazonaws.com", path: "/")
        let prefix = base.path.hasSuffix("/") ? String(base.path.dropLast()) : base.path
        let encodedKey = percentEncode(key, keepSlash: true)
        if usesVirtualHost(bucket) {
            return RemoteURL(scheme: base.scheme, host: "\(bucket).\(base.host)", port: base.port, path: "\(prefix)/\(encodedKey)")
        }
        return RemoteURL(scheme: base.scheme, host: base.host, port: base.port,
                         path: "\(prefix)/\(percentEncode(bucket, keepSlash: false))/\(encodedKey)")
    }

    func usesVirtualHost(_ bucket: String) -> Bool {
        switch addressing {
        case .path: return false
        case .virtualHosted: return true
        case .automatic:
            // A name with dots breaks https certificate matching as a host label; upper case is not
            // a valid DNS bucket name.
            let dnsSafe = !bucket.isEmpty && bucket.utf8.count <= 63 && bucket.utf8.allSatisfy {
                ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "-")
            }
            return endpoint == nil && dnsSafe
        }
    }
}
