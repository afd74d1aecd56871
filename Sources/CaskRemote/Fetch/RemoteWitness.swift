/// What identifies one version of a remote object, stored with its local copy: the validators the
/// server sent (ETag, Last-Modified, S3 version id) and the SHA-256 of the bytes downloaded. A
/// later fetch sends the validators back (If-None-Match, If-Modified-Since); 304 keeps the copy.
public struct RemoteWitness: Codable, Sendable, Equatable {
    public var etag: String?
    /// As the server sent it (an HTTP date, one-second resolution).
    public var lastModified: String?
    public var versionID: String?
    /// Bytes in the copy.
    public var size: Int
    /// Hex SHA-256 of the copy: decides whether a new download changed anything (the only way to
    /// tell for a server that sends no validators).
    public var sha256: String

    public init(etag: String? = nil, lastModified: String? = nil, versionID: String? = nil, size: Int, sha256: String) {
        self.etag = etag
        self.lastModified = lastModified
        self.versionID = versionID
        self.size = size
        self.sha256 = sha256
    }

    /// True when a conditional request is possible.
    var hasValidators: Bool { etag != nil || lastModified != nil }
}

/// The entry kept per remote object (key `cask.remote/<sha256 of the object's identity>`): where its
/// bytes are and what they are. The bytes are the value file of another entry, `bodyKey`, written
/// once and never changed: a new version gets a new body entry, and one transaction swaps the two
/// and deletes the old body, so a reader that read this record finds its body or none at all.
struct RemoteRecord: Codable, Sendable {
    /// The object, as shown to people (no query string, no credentials).
    var object: String
    var witness: RemoteWitness
    var bodyKey: String
    /// Seconds since the epoch of the download, and of the last time the remote confirmed the copy.
    var fetchedAt: Double
    var checkedAt: Double
}
