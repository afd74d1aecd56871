import Foundation

/// What a fetch does when the remote cannot give the object (unreachable, timed out, credentials
/// refused, object gone) and a local copy exists. Without a local copy it always fails.
public enum UnreachablePolicy: String, Sendable, Equatable {
    /// Return the local copy marked stale (``RemoteCopy/Source/stale``) and count it.
    case serveStale
    /// Throw the ``RemoteError``.
    case fail
}

/// A bearer token for https objects (Google Cloud Storage with an OAuth token, say). Sent only to
/// the origin of the requested URL; its descriptions never show it.
public struct BearerToken: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    let token: String
    public init(_ token: String) { self.token = token }
    public var description: String { "BearerToken(<hidden>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

/// How a ``RemoteCache`` reaches objects and when it asks again.
public struct RemoteConfiguration: Sendable {
    /// Endpoint, region, addressing and credentials of `s3://` objects.
    public var s3: S3Configuration
    public var timeouts: RemoteTimeouts
    /// A copy checked (or downloaded) less than this long ago is served without asking the remote;
    /// zero asks on every fetch (a conditional request, so an unchanged object costs one round trip).
    public var revalidateAfter: Duration
    public var onUnreachable: UnreachablePolicy
    /// Sent as `Authorization: Bearer …` with `http(s)` objects.
    public var bearerToken: BearerToken?

    public init(s3: S3Configuration = S3Configuration(), timeouts: RemoteTimeouts = RemoteTimeouts(),
                revalidateAfter: Duration = .zero, onUnreachable: UnreachablePolicy = .serveStale,
                bearerToken: BearerToken? = nil) {
        self.s3 = s3
        self.timeouts = timeouts
        self.revalidateAfter = revalidateAfter
        self.onUnreachable = onUnreachable
        self.bearerToken = bearerToken
    }

    /// S3 settings from the standard AWS variables (see ``S3Configuration/fromEnvironment(_:)``);
    /// the rest default.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RemoteConfiguration {
        RemoteConfiguration(s3: try S3Configuration.fromEnvironment(environment))
    }
}
