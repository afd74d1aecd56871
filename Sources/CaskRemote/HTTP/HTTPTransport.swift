import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// How long a remote request may take. Both are bounded: a dead or silent server makes a fetch
/// fail (or serve its stale copy) after about `connect` + `request`, never hang.
public struct RemoteTimeouts: Sendable, Equatable {
    /// Establishing the connection (TCP and TLS).
    public var connect: Duration
    /// Waiting for the response head, and then for each further piece of the body (a download may
    /// take longer in all, as long as bytes keep arriving).
    public var request: Duration
    /// Redirects followed at most.
    public var maxRedirects: Int

    public init(connect: Duration = .seconds(10), request: Duration = .seconds(30), maxRedirects: Int = 5) {
        self.connect = connect
        self.request = request
        self.maxRedirects = maxRedirects
    }
}

/// A request before it is sent: method, URL and headers that are not credentials.
struct RemoteRequest: Sendable {
    var method: HTTPMethod
    var url: RemoteURL
    var headers: HTTPHeaders
}

/// Adds credentials to a request just before it goes out (SigV4 or a bearer token). Called for
/// every hop whose origin is the original request's, never for another origin.
typealias Authorizer = @Sendable (inout RemoteRequest) throws -> Void

/// A thin wrapper over AsyncHTTPClient: bounded timeouts, no transparent decompression (the bytes
/// stored are the bytes sent), and redirects followed here rather than by the client, so that
/// credentials only ever go to the origin they belong to: a redirect to another host, port or
/// scheme is followed without an Authorization header, and one from https to http is refused.
final class HTTPTransport: Sendable {
    let client: HTTPClient
    let timeouts: RemoteTimeouts

    init(timeouts: RemoteTimeouts) {
        self.timeouts = timeouts
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .nanoseconds(timeouts.connect.nanoseconds), read: .nanoseconds(timeouts.request.nanoseconds)))
        configuration.decompression = .disabled
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    func shutdown() async throws { try await client.shutdown() }

    /// Sends `request`, following redirects; returns the final response with its body unread, and
    /// the URL it came from. Connection failures and timeouts are `.unreachable`.
    func send(_ request: RemoteRequest, authorize: Authorizer?) async throws -> (HTTPClientResponse, RemoteURL) {
        var current = request
        for _ in 0...timeouts.maxRedirects {
            var outgoing = current
            if current.url.sameOrigin(as: request.url), let authorize { try authorize(&outgoing) }
            let response = try await execute(outgoing)
            let status = Int(response.status.code)
            guard [301, 302, 303, 307, 308].contains(status), let location = response.headers.first(name: "location") else {
                return (response, current.url)
            }
            try await drain(response)
            current = try RedirectPolicy.follow(current, status: status, location: location)
        }
        throw RemoteError(.unreachable, "\(request.url.redacted): more than \(timeouts.maxRedirects) redirects")
    }

    private func execute(_ request: RemoteRequest) async throws -> HTTPClientResponse {
        var r = HTTPClientRequest(url: request.url.description)
        r.method = request.method
        r.headers = request.headers
        do {
            return try await client.execute(r, deadline: .now() + .nanoseconds(timeouts.request.nanoseconds))
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw RemoteError(.unreachable, "\(request.url.redacted): \(Self.describe(error))")
        }
    }

    private func drain(_ response: HTTPClientResponse) async throws {
        do {
            _ = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw RemoteError(.unreachable, "a redirect's body could not be read: \(Self.describe(error))")
        }
    }

    /// A transport error in words (AsyncHTTPClient's errors name no credentials).
    static func describe(_ error: any Error) -> String {
        if let e = error as? HTTPClientError {
            switch e {
            case .connectTimeout: return "connecting timed out"
            case .deadlineExceeded: return "no answer in time"
            case .readTimeout: return "the transfer stalled"
            case .remoteConnectionClosed: return "the server closed the connection"
            default: return "request failed (\(e))"
            }
        }
        return "connection failed (\(error))"
    }
}

extension Duration {
    /// The duration in whole nanoseconds (saturating).
    var nanoseconds: Int64 {
        let (s, a) = components
        let (n, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : n &+ a / 1_000_000_000
    }
}

/// Where a redirect leads and what the next request carries.
enum RedirectPolicy {
    static func follow(_ request: RemoteRequest, status: Int, location: String) throws -> RemoteRequest {
        let target = try request.url.resolving(location)
        if request.url.scheme == "https" && target.scheme != "https" {
            throw RemoteError(.invalidArgument, "\(request.url.redacted): refused a redirect from https to http")
        }
        var next = request
        next.url = target
        if status == 303 { next.method = .GET }
        if !target.sameOrigin(as: request.url) {
            // Credentials belong to the origin that was asked; the authorizer is not called for
            // another origin either, this removes any the caller put in the headers.
            next.headers.remove(name: "authorization")
            for (name, _) in next.headers where name.lowercased().hasPrefix("x-amz-") { next.headers.remove(name: name) }
        }
        return next
    }
}
