import CaskStore

// Package-level hooks for modules of this package that fill value files from data arriving piece by
// piece (CaskRemote's downloads). Users of `Cask` see none of this.

/// A value file being written chunk by chunk; see ``CaskStore/ValueFileWriter``.
package typealias ValueFileWriter = CaskStore.ValueFileWriter
/// A finished value file not yet owned by an entry; see ``CaskStore/NewValueFile``.
package typealias FinishedValueFile = CaskStore.NewValueFile

extension Cache {
    /// Starts an uncompressed value file in this cache's directory. Finish it, then store it with
    /// ``CacheTransaction/setValueFile(_:_:)`` (or drop it: nothing is left behind).
    package func beginValueFile() throws -> ValueFileWriter {
        try store.beginValueFile(compressed: false)
    }

    /// The value of `key` for reading, with the path of its value file when it has one (a value
    /// stored inline, or compressed, has none). The reader stays valid after the entry changes; the
    /// path only while the entry is current.
    package func openStoredValue(_ key: some CacheKey) throws -> (path: String?, reader: ValueReader)? {
        guard let (stored, _, _, _) = try storedEntry(key.cacheKeyBytes) else { return nil }
        switch stored {
        case .file(_, let file) where !file.isCompressed:
            return (file.path, ValueReader(file: file))
        default:
            return (nil, ValueReader(bytes: try materialize(stored).1))
        }
    }
}

extension CacheTransaction {
    /// Buffers a write of `key` whose value (bytes) is the finished value file `file`; the entry
    /// owns the file once the transaction commits.
    package func setValueFile(_ key: some CacheKey, _ file: FinishedValueFile) throws {
        _ = try active()
        let write = Mutation.putFile(file, tag: [], expireTime: 0, flags: ValueEncoding.bytes.flags)
        try tx.mutate(key.cacheKeyBytes) { _ in (write, ()) }
    }
}
