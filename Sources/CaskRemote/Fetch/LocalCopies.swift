import Cask
import Dispatch

/// The local side of remote objects: records and their bodies in the cache (see ``RemoteRecord``).
struct LocalCopies: Sendable {
    let cache: Cache

    static func recordKey(_ digest: String) -> String { "cask.remote/\(digest)" }

    /// A record with its body opened, or nil when there is no usable copy (none, or its body was
    /// evicted or removed).
    struct Local: Sendable {
        var record: RemoteRecord
        var path: String?
        var reader: ValueReader
    }

    func load(_ digest: String) throws -> Local? {
        // A writer swaps record and body together; a reader between reading the record and opening
        // its body may find the body just deleted: read the record again then.
        var previous: String?
        for _ in 0..<8 {
            guard let record = try cache.get(Self.recordKey(digest), as: RemoteRecord.self) else { return nil }
            if let (path, reader) = try cache.openStoredValue(record.bodyKey) {
                return Local(record: record, path: path, reader: reader)
            }
            if previous == record.bodyKey { return nil }  // the body is gone for good (evicted)
            previous = record.bodyKey
        }
        return nil
    }

    /// Stores a finished download as the object's copy, replacing the previous one in the same
    /// transaction.
    func commit(_ digest: String, file: FinishedValueFile, object: String, witness: RemoteWitness, now: Double) throws -> RemoteRecord {
        defer { file.discard() }  // a no-op once the entry owns it
        let bodyKey = Self.recordKey(digest) + "/" + Self.generation()
        let record = RemoteRecord(object: object, witness: witness, bodyKey: bodyKey, fetchedAt: now, checkedAt: now)
        try cache.transact { tx in
            if let old = try tx.get(Self.recordKey(digest), as: RemoteRecord.self) { try tx.delete(old.bodyKey) }
            try tx.setValueFile(bodyKey, file)
            try tx.set(Self.recordKey(digest), record)
        }
        return record
    }

    /// Notes that the remote confirmed the copy whose body is `bodyKey` at `now` (unless it was
    /// replaced meanwhile).
    func confirm(_ digest: String, bodyKey: String, now: Double) throws {
        try cache.transact { tx in
            guard var record = try tx.get(Self.recordKey(digest), as: RemoteRecord.self), record.bodyKey == bodyKey else { return }
            record.checkedAt = max(record.checkedAt, now)
            try tx.set(Self.recordKey(digest), record)
        }
    }

    func count(_ name: String) {
        // Statistics are best effort: a failure to count never fails a fetch.
        _ = try? cache.incr("cask.remote.stats/\(name)")
    }

    func statistics() throws -> RemoteStatistics {
        func value(_ name: String) throws -> Int64 { try cache.get("cask.remote.stats/\(name)", as: Int64.self) ?? 0 }
        return RemoteStatistics(downloads: try value("downloads"), notModified: try value("not-modified"),
                                staleServed: try value("stale"))
    }

    /// 32 random hex digits: names one body.
    static func generation() -> String {
        var g = SystemRandomNumberGenerator()
        return SigV4Signer.hex((0..<16).map { _ in UInt8.random(in: 0...255, using: &g) })
    }
}

/// Runs blocking cache work (locks held by other processes, fsync) on a thread of its own rather
/// than on the cooperative pool.
func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue(label: "cask.remote.blocking").async { continuation.resume(with: Result { try work() }) }
    }
}
