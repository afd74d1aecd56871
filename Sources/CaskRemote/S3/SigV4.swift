import Crypto
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// AWS Signature Version 4 for requests with the Authorization header (HMAC-SHA256 and SHA-256
/// from swift-crypto). The pieces are separate so each can be checked against AWS's published
/// examples.
public struct SigV4Signer: Sendable {
    public let credentials: S3Credentials
    public let region: String
    public let service: String

    /// The SHA-256 of an empty payload, the one a GET sends.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public init(credentials: S3Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// Signs a request: sets `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token` (with a
    /// session token) and `authorization` in `headers`, signing every header present plus `host`.
    /// - Parameters:
    ///   - headers: Lowercase or mixed-case names; on return, holds the added headers too.
    ///   - payloadHash: Hex SHA-256 of the body (``emptyPayloadHash`` for none).
    ///   - time: Seconds since the epoch (the signature is valid about 15 minutes around it).
    public func sign(method: String, url: RemoteURL, headers: inout [(name: String, value: String)],
                     payloadHash: String, time: Int64) {
        let stamp = Self.timestamp(time)
        headers.removeAll { ["authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"].contains($0.name.lowercased()) }
        headers.append(("x-amz-date", stamp))
        headers.append(("x-amz-content-sha256", payloadHash))
        if let token = credentials.sessionToken { headers.append(("x-amz-security-token", token)) }
        var signing = headers.filter { $0.name.lowercased() != "host" }
        signing.append(("host", url.hostHeader))
        let (canonical, signed) = Self.canonicalRequest(method: method, path: url.path, query: url.query,
                                                        headers: signing, payloadHash: payloadHash)
        let scope = "\(stamp.prefix(8))/\(region)/\(service)/aws4_request"
        let toSign = Self.stringToSign(timestamp: stamp, scope: scope, canonicalRequest: canonical)
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(
            for: Array(toSign.utf8), using: signingKey(date: String(stamp.prefix(8)))))
        headers.append(("authorization",
                        "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope),SignedHeaders=\(signed),Signature=\(signature)"))
    }

    /// The canonical request, and the signed-headers list: header names lowercased and sorted,
    /// values trimmed with inner runs of spaces collapsed; query parameters sorted, each name and
    /// value percent-encoded (after decoding what the URL had encoded).
    public static func canonicalRequest(method: String, path: String, query: String?,
                                        headers: [(name: String, value: String)], payloadHash: String) -> (String, String) {
        var pairs: [(String, String)] = []
        for part in (query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = percentEncode(percentDecode(String(kv[0])), keepSlash: false)
            let value = kv.count > 1 ? percentEncode(percentDecode(String(kv[1])), keepSlash: false) : ""
            pairs.append((name, value))
        }
        pairs.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        var merged: [String: [String]] = [:]
        for h in headers {
            let value = h.value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            merged[h.name.lowercased(), default: []].append(value)
        }
        let names = merged.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let signed = names.joined(separator: ";")
        let request = [method, path.isEmpty ? "/" : path, pairs.map { "\($0.0)=\($0.1)" }.joined(separator: "&"),
                       canonicalHeaders, signed, payloadHash].joined(separator: "\n")
        return (request, signed)
    }

    public static func stringToSign(timestamp: String, scope: String, canonicalRequest: String) -> String {
        "AWS4-HMAC-SHA256\n\(timestamp)\n\(scope)\n\(hex(SHA256.hash(data: Array(canonicalRequest.utf8))))"
    }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
    public func signingKey(date: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array(("AWS4" + credentials.secretAccessKey).utf8))
        for part in [date, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    /// "YYYYMMDDTHHMMSSZ" in UTC.
    public static func timestamp(_ time: Int64) -> String {
        var t = time_t(time)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".unicodeScalars)
        var s = ""
        for b in digest {
            s.unicodeScalars.append(digits[Int(b >> 4)])
            s.unicodeScalars.append(digits[Int(b & 15)])
        }
        return s
    }

    static func hex(_ digest: SHA256.Digest) -> String { hex(Array(digest)) }
    static func hex(_ code: HMAC<SHA256>.MAC) -> String { hex(Array(code)) }
}

/// Undoes percent-encoding (and "+" stays "+": S3 query strings do not use form encoding).
func percentDecode(_ s: String) -> String {
    var out: [UInt8] = []
    let u = Array(s.utf8)
    var i = 0
    func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
    while i < u.count {
        if u[i] == UInt8(ascii: "%"), i + 2 < u.count, let h = value(u[i + 1]), let l = value(u[i + 2]) {
            out.append(h << 4 | l)
            i += 3
        } else {
            out.append(u[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}
