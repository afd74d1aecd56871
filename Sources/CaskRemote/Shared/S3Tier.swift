import Crypto
import NIOHTTP1

/// A shared tier on an S3-compatible object store (AWS S3, GCS's XML API, SeaweedFS, MinIO):
/// one object per entry under `prefix`, its body the entry's ``SharedEnvelope``.
///
/// Object names: `<prefix>e/<hex of the key>` for entries (`<prefix>e/h<SHA-256 hex>` for keys
/// over 400 bytes), `<prefix>l/<same>` for leases. Metadata: `x-amz-meta-cask-expire` (the expire
/// time, ms since the epoch; absent for none) and `x-amz-meta-cask-tag` (the tag's UTF-8 in hex).
/// An object store has no TTL: an expired object reads as a miss and stays until removed
/// (`removeAll`), and the machines' clocks must roughly agree (the expire time is absolute).
public struct S3Tier: SharedTier {
    public let client: S3ObjectClient
    public let prefix: String

    public init(client: S3ObjectClient, prefix: String = "cask/") {
        self.client = client
        self.prefix = prefix
    }

    static let expireHeader = "x-amz-meta-cask-expire"
    static let tagHeader = "x-amz-meta-cask-tag"

    /// The object name's part for `key`.
    static func name(_ key: [UInt8]) -> String {
        guard key.count <= 400 else { return "h" + hex(Array(SHA256.hash(data: key))) }
        return hex(key)
    }

    static func hex(_ bytes: [UInt8]) -> String { SigV4Signer.hex(bytes) }

    func entry(_ key: [UInt8]) -> String { prefix + "e/" + Self.name(key) }
    func lease(_ key: [UInt8]) -> String { prefix + "l/" + Self.name(key) }

    static func nowMillis() -> Int64 { Int64(RemoteCache.now() * 1000) }

    public func read(_ key: [UInt8]) throws -> SharedRecord? {
        let response = try client.send(.GET, key: entry(key))
        switch response.status {
        case 200:
            var remaining: Int64?
            if let text = response.headers[Self.expireHeader], let expire = Int64(text) {
                remaining = expire - Self.nowMillis()
                guard remaining! > 0 else { return nil }
            }
            return SharedRecord(bytes: response.body, remainingMillis: remaining)
        case 404: return nil
        default: throw S3ObjectError.status(response.status, "GET")
        }
    }

    public func write(_ key: [UInt8], _ bytes: [UInt8], expireMillis: Int64?, tag: String?) throws {
        var headers: [(name: String, value: String)] = [("content-type", "application/octet-stream")]
        if let expireMillis { headers.append((Self.expireHeader, String(Self.nowMillis() + max(expireMillis, 1)))) }
        if let tag { headers.append((Self.tagHeader, Self.hex(Array(tag.utf8)))) }
        let response = try client.send(.PUT, key: entry(key), headers: headers, body: bytes)
        guard response.status == 200 else { throw S3ObjectError.status(response.status, "PUT") }
    }

    /// An object store's DELETE does not say whether the object was there: a HEAD first does.
    @discardableResult
    public func remove(_ key: [UInt8]) throws -> Bool {
        let there = try client.send(.HEAD, key: entry(key)).status == 200
        let response = try client.send(.DELETE, key: entry(key))
        guard response.status == 204 || response.status == 200 || response.status == 404 else {
            throw S3ObjectError.status(response.status, "DELETE")
        }
        return there
    }

    public func probe() throws {
        let response = try client.send(.GET, key: "", query: "list-type=2&max-keys=1&prefix=" + percentEncode(prefix, keepSlash: false))
        guard response.status == 200 else { throw S3ObjectError.status(response.status, "LIST") }
    }

    /// A conditional PUT (`If-None-Match: *`) of the lease object, the token its body and its end
    /// in metadata. Refused (412, or 409 on a concurrent conditional write) while another holds
    /// it — unless that lease has ended: then it is deleted and the PUT tried once more.
    public func acquireLease(_ key: [UInt8], token: [UInt8], millis: Int64) throws -> Bool {
        if try putLease(key, token, millis) { return true }
        let held = try client.send(.HEAD, key: lease(key))
        if held.status == 404 { return try putLease(key, token, millis) }   // released meanwhile
        guard held.status == 200, let end = held.headers[Self.expireHeader].flatMap(Int64.init), end <= Self.nowMillis() else {
            return false
        }
        _ = try client.send(.DELETE, key: lease(key))
        return try putLease(key, token, millis)
    }

    private func putLease(_ key: [UInt8], _ token: [UInt8], _ millis: Int64) throws -> Bool {
        let headers = [("if-none-match", "*"), (Self.expireHeader, String(Self.nowMillis() + max(millis, 1)))]
        let status = try client.send(.PUT, key: lease(key), headers: headers, body: token).status
        switch status {
        case 200: return true
        case 409, 412: return false
        default: throw S3ObjectError.status(status, "PUT If-None-Match")
        }
    }

    /// Deletes the lease object if its body is still `token` (a lease that ended and was taken by
    /// another is left alone; between the read and the delete, one could still be taken over —
    /// object stores offer no compare-and-delete everywhere).
    public func releaseLease(_ key: [UInt8], token: [UInt8]) throws {
        let held = try client.send(.GET, key: lease(key))
        guard held.status == 200, held.body == token else { return }
        _ = try client.send(.DELETE, key: lease(key))
    }

    public func removeTagged(_ tag: String) throws -> Int {
        let wanted = Self.hex(Array(tag.utf8))
        var removed = 0
        for name in try client.list(prefix: prefix + "e/") {
            let head = try client.send(.HEAD, key: name)
            guard head.status == 200, head.headers[Self.tagHeader] == wanted else { continue }
            if try client.send(.DELETE, key: name).status < 300 { removed += 1 }
        }
        return removed
    }

    public func removeAll() throws -> Int {
        var removed = 0
        for name in try client.list(prefix: prefix) {
            let status = try client.send(.DELETE, key: name).status
            if status < 300, name.hasPrefix(prefix + "e/") { removed += 1 }
        }
        return removed
    }

    /// Keys hashed for their length (over 400 bytes) are not found by their prefix.
    public func removeAll(withKeyPrefix keyPrefix: [UInt8]) throws -> Int {
        var removed = 0
        for name in try client.list(prefix: prefix + "e/" + Self.hex(keyPrefix)) where try client.send(.DELETE, key: name).status < 300 {
            removed += 1
        }
        return removed
    }
}

extension S3Tier {
    /// `s3://bucket[/prefix][?endpoint=URL][&region=R]`: the bucket, the object prefix (default
    /// `cask/`; a `/` is added to a prefix without one), an S3-compatible endpoint
    /// (percent-encoded where needed; default AWS), and the signing region. Credentials, and the
    /// region and endpoint when the URL does not name them, come from the standard AWS variables
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
    /// `AWS_ENDPOINT_URL`).
    /// - Throws: ``RemoteError`` (`.invalidArgument`) for a malformed URL.
    /// `timeout` bounds each request unless the URL gives `timeout=SECONDS` (more than 0, at most
    /// 300), which wins: a tool run on a slow link or a loaded server can ask for more.
    public init(url: String, environment: [String: String], timeout: Duration = .seconds(2)) throws {
        guard url.hasPrefix("s3://") else { throw RemoteError(.invalidArgument, "not an s3:// URL: \(url)") }
        var timeout = timeout
        var rest = Substring(url.dropFirst("s3://".count))
        var configuration = try S3Configuration.fromEnvironment(environment)
        if let question = rest.firstIndex(of: "?") {
            for item in rest[rest.index(after: question)...].split(separator: "&") {
                let kv = item.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { throw RemoteError(.invalidArgument, "bad parameter \(item) in \(url)") }
                let value = percentDecode(String(kv[1]))
                switch kv[0] {
                case "endpoint":
                    configuration.endpoint = try RemoteURL(parsing: value)
                    configuration.addressing = .path
                case "region": configuration.region = value
                case "timeout":
                    guard let seconds = Double(value), seconds > 0, seconds <= 300 else {
                        throw RemoteError(.invalidArgument, "timeout=\(value) in \(url): give seconds, more than 0 and at most 300")
                    }
                    timeout = .milliseconds(Int64((seconds * 1000).rounded(.up)))
                default: throw RemoteError(.invalidArgument, "unknown parameter \(kv[0]) in \(url) (endpoint, region, timeout)")
                }
            }
            rest = rest[..<question]
        }
        let bucket = rest.prefix { $0 != "/" }
        guard !bucket.isEmpty else { throw RemoteError(.invalidArgument, "no bucket in \(url)") }
        var prefix = String(rest.dropFirst(bucket.count).drop { $0 == "/" })
        if prefix.isEmpty { prefix = "cask/" } else if !prefix.hasSuffix("/") { prefix += "/" }
        self.init(client: S3ObjectClient(configuration: configuration, bucket: String(bucket), timeout: timeout), prefix: prefix)
    }
}
