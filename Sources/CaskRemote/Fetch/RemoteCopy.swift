import Cask

/// A local copy of a remote object, as a fetch returned it.
public struct RemoteCopy: Sendable {
    /// Where the bytes came from on this fetch.
    public enum Source: String, Sendable, Equatable {
        /// Downloaded now.
        case network
        /// The local copy, fresh: checked less than `revalidateAfter` ago, or confirmed unchanged
        /// by the remote now (304).
        case cache
        /// The local copy, not confirmed: the remote could not give the object (see ``staleReason``).
        case stale
    }

    /// The object, as shown to people.
    public let object: String
    /// The file holding the bytes in the cache directory (valid until the copy is replaced; read
    /// through ``reader`` to be safe against a concurrent replacement). Nil for an empty object
    /// stored inline.
    public let path: String?
    public let witness: RemoteWitness
    /// True when this fetch downloaded bytes that differ from the previous copy (or there was none).
    public let changed: Bool
    public let source: Source
    /// Seconds since the epoch of the download, and of the last confirmation by the remote.
    public let fetchedAt: Double
    public let checkedAt: Double
    /// Why a stale copy was served.
    public let staleReason: RemoteError?
    /// Reads the bytes once, from the start (stays valid if the copy is replaced meanwhile).
    public let reader: ValueReader

    public var size: Int { witness.size }

    /// The rest of the bytes, read through ``reader``.
    public func bytes() throws -> [UInt8] { try reader.read(upToCount: reader.size) }
}

/// What a ``RemoteCache`` has done, counted in the cache (so across processes).
public struct RemoteStatistics: Sendable, Equatable {
    /// Bodies downloaded.
    public var downloads: Int64
    /// Revalidations the remote answered with 304 Not Modified.
    public var notModified: Int64
    /// Fetches that served a stale copy.
    public var staleServed: Int64
}
