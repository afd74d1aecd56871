import Foundation

/// An absolute http(s) URL kept in its percent-encoded form, exactly as it goes on the wire (what
/// SigV4 signs is what is sent: no re-encoding in between).
public struct RemoteURL: Sendable, Hashable, CustomStringConvertible {
    /// "http" or "https".
    public var scheme: String
    /// Host name or address, lowercased.
    public var host: String
    /// The port, when the URL names one.
    public var port: Int?
    /// Percent-encoded path, starting with "/".
    public var path: String
    /// Percent-encoded query without the "?", or nil.
    public var query: String?

    public init(scheme: String, host: String, port: Int? = nil, path: String, query: String? = nil) {
        self.scheme = scheme.lowercased()
        self.host = host.lowercased()
        self.port = port
        self.path = path.isEmpty ? "/" : path
        self.query = query
    }

    /// Parses an absolute http or https URL. User information ("user:password@") is refused: it
    /// would end up in logs and keys; pass credentials through configuration instead.
    public init(parsing string: String) throws {
        guard let c = URLComponents(string: string), let scheme = c.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = c.host, !host.isEmpty else {
            throw RemoteError(.invalidArgument, "not an absolute http(s) URL")
        }
        guard c.user == nil, c.password == nil else {
            throw RemoteError(.invalidArgument, "URLs with user information are refused; configure credentials instead")
        }
        self.init(scheme: scheme, host: host, port: c.port, path: c.percentEncodedPath, query: c.percentEncodedQuery)
    }

    /// The port the connection goes to.
    public var effectivePort: Int { port ?? (scheme == "https" ? 443 : 80) }

    /// The Host header: the host, with the port when it is not the scheme's default.
    public var hostHeader: String {
        let h = host.contains(":") ? "[\(host)]" : host
        guard let port, port != (scheme == "https" ? 443 : 80) else { return h }
        return "\(h):\(port)"
    }

    /// Scheme, host and port: requests to one origin may carry its credentials.
    public func sameOrigin(as other: RemoteURL) -> Bool {
        scheme == other.scheme && host == other.host && effectivePort == other.effectivePort
    }

    public var description: String { "\(scheme)://\(hostHeader)\(path)" + (query.map { "?" + $0 } ?? "") }

    /// The URL without its query (which may hold a pre-signed URL's signature): safe to show and store.
    public var redacted: String { "\(scheme)://\(hostHeader)\(path)" + (query == nil ? "" : "?…") }

    /// Resolves a Location header against this URL.
    func resolving(_ location: String) throws -> RemoteURL {
        guard let base = URL(string: description), let target = URL(string: location, relativeTo: base)?.absoluteString else {
            throw RemoteError(.invalidArgument, "a redirect names an unusable location")
        }
        return try RemoteURL(parsing: target)
    }
}

/// Percent-encoding per RFC 3986: everything but the unreserved characters (A–Z a–z 0–9 - . _ ~),
/// and "/" too unless `keepSlash` (SigV4's rule for S3 object keys).
func percentEncode(_ s: String, keepSlash: Bool) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for b in s.utf8 {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            out.unicodeScalars.append(Unicode.Scalar(b))
        case UInt8(ascii: "/") where keepSlash:
            out.append("/")
        default:
            let hex = Array("0123456789ABCDEF".unicodeScalars)
            out.append("%")
            out.unicodeScalars.append(hex[Int(b >> 4)])
            out.unicodeScalars.append(hex[Int(b & 15)])
        }
    }
    return out
}
