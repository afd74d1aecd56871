import AsyncHTTPClient
import Crypto
import NIOCore
import NIOHTTP1

/// Blocking, deadline-bounded requests on the objects of one bucket, signed with SigV4 when the
/// configuration has credentials: what a shared tier on S3 needs (GET, HEAD, PUT with metadata and
/// `If-None-Match`, DELETE, LIST v2). It waits for the HTTP client's event-loop future on a
/// semaphore, so it never occupies a thread of Swift's cooperative pool.
public struct S3ObjectClient: Sendable {
    public let configuration: S3Configuration
    public let bucket: String
    /// How long one request (its response body included) may take.
    public var timeout: Duration

    public init(configuration: S3Configuration, bucket: String, timeout: Duration = .seconds(2)) {
        self.configuration = configuration
        self.bucket = bucket
        self.timeout = timeout
    }

    /// A response: its status, headers (names lowercased) and body.
    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]
    }

    /// Sends one request on `key` (or on the bucket, with `key` empty and a `query`).
    /// - Throws: ``S3ObjectError``: `.timeout` when the deadline passes, `.transport` when the
    ///   connection fails.
    public func send(_ method: HTTPMethod, key: String, query: String? = nil, headers extra: [(name: String, value: String)] = [],
                     body: [UInt8] = []) throws(S3ObjectError) -> Response {
        var url = configuration.url(bucket: bucket, key: key)
        url.query = query
        var headers = extra
        if let credentials = configuration.credentials {
            let hash = SigV4Signer.hex(SHA256.hash(data: body))
            SigV4Signer(credentials: credentials, region: configuration.region)
                .sign(method: method.rawValue, url: url, headers: &headers, payloadHash: hash, time: Int64(RemoteCache.now()))
        }
        let request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(url: url.description, method: method, headers: HTTPHeaders(headers.map { ($0.name, $0.value) }),
                                             body: body.isEmpty && method != .PUT ? nil : .bytes(body))
        } catch {
            throw .transport("\(error)")
        }
        let future = HTTPClient.shared.execute(request: request, deadline: .now() + .nanoseconds(timeout.nanoseconds))
        // The client's own deadline ends the request; this bound only guards against a future
        // that would never complete.
        guard let outcome = waitForFuture(future, until: .now + timeout + .seconds(1)) else { throw .timeout }
        switch outcome {
        case .success(let response):
            var names: [String: String] = [:]
            for (name, value) in response.headers { names[name.lowercased()] = value }
            let bytes = response.body.map { Array($0.readableBytesView) } ?? []
            return Response(status: Int(response.status.code), headers: names, body: bytes)
        case .failure(let error):
            if let e = error as? HTTPClientError, e == .deadlineExceeded || e == .readTimeout || e == .connectTimeout { throw .timeout }
            throw .transport("\(error)")
        }
    }

    /// The keys under `prefix`, every page of `LIST` (v2) read.
    public func list(prefix: String) throws(S3ObjectError) -> [String] {
        var keys: [String] = []
        var token: String?
        repeat {
            var query = "list-type=2&prefix=" + percentEncode(prefix, keepSlash: false)
            if let token { query += "&continuation-token=" + percentEncode(token, keepSlash: false) }
            let response = try send(.GET, key: "", query: query)
            guard response.status == 200 else { throw .status(response.status, "LIST") }
            let text = String(decoding: response.body, as: UTF8.self)
            keys += Self.elements("Key", in: text)
            token = Self.elements("IsTruncated", in: text).first == "true" ? Self.elements("NextContinuationToken", in: text).first : nil
        } while token != nil
        return keys
    }

    /// The text of every `<name>…</name>` element of `xml`, entities unescaped.
    static func elements(_ name: String, in xml: String) -> [String] {
        var out: [String] = []
        var rest = xml[...]
        while let open = rest.range(of: "<\(name)>") {
            rest = rest[open.upperBound...]
            guard let close = rest.range(of: "</\(name)>") else { break }
            out.append(unescape(String(rest[..<close.lowerBound])))
            rest = rest[close.upperBound...]
        }
        return out
    }

    static func unescape(_ s: String) -> String {
        s.replacingAll("&lt;", "<").replacingAll("&gt;", ">").replacingAll("&quot;", "\"")
            .replacingAll("&apos;", "'").replacingAll("&amp;", "&")
    }
}

/// Why an S3 request failed.
public enum S3ObjectError: Error, Sendable, Equatable {
    case timeout
    case transport(String)
    /// An answer other than the operation expects (status, what was asked).
    case status(Int, String)
}

private extension String {
    func replacingAll(_ target: String, _ replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
