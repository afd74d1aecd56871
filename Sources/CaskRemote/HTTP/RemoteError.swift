/// A failure of a remote fetch. Its text never holds credentials, signatures or a URL's query.
public struct RemoteError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The object does not exist (HTTP 404).
        case notFound
        /// The server refused the credentials, or the request is not allowed (HTTP 401, 403).
        case credentials
        /// The server could not be reached in time, the connection failed or broke mid-transfer,
        /// or it answered with a server error.
        case unreachable
        /// The server answered with a status this client does not handle.
        case unexpectedStatus
        /// A URL, a redirect or a configuration value is not usable.
        case invalidArgument
    }

    public let kind: Kind
    public let message: String
    /// The HTTP status, when the server answered.
    public let status: Int?

    public init(_ kind: Kind, _ message: String, status: Int? = nil) {
        self.kind = kind
        self.message = message
        self.status = status
    }

    public var description: String {
        "remote: " + message + (status.map { " (HTTP \($0))" } ?? "")
    }

    /// The error for a final response status (not 2xx or 304).
    static func forStatus(_ status: Int, _ url: RemoteURL) -> RemoteError {
        switch status {
        case 404, 410: RemoteError(.notFound, "\(url.redacted) does not exist", status: status)
        case 401, 403: RemoteError(.credentials, "\(url.redacted): access refused", status: status)
        case 408, 429, 500...599: RemoteError(.unreachable, "\(url.redacted): the server is unavailable", status: status)
        default: RemoteError(.unexpectedStatus, "\(url.redacted): unexpected answer", status: status)
        }
    }
}
