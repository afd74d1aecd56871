#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An entry whose value file is missing or has another size than its record says.
package struct DamagedValueFile: Sendable {
    /// The entry's key.
    package var key: [UInt8]
    /// The file, relative to `<dir>/values`.
    package var path: String
    /// The sequence number of the record naming the file (a repair removes the entry only while
    /// this record is still current).
    package var sequence: UInt64
    /// True when the file is gone; false when its size is wrong.
    package var missing: Bool
    /// The record's value field (the encoded reference), to recognize the record later.
    package var reference: [UInt8]
}

extension Store {
    /// Checks the value file of every entry (expired ones included), and lists the value files no
    /// entry names that are older than `orphanCutoff` (seconds since the epoch; younger files may
    /// belong to a write in flight).
    package func auditValueFiles(orphanCutoff: Double) throws -> (damaged: [DamagedValueFile], orphans: [String]) {
        var named: [(key: [UInt8], reference: ValueFileReference, sequence: UInt64)] = []
        for sh in shards {
            try sh.withCurrentState { s in
                guard s.externalBytes > 0 else { return }
                let view = s.view
                s.directory.forEach { _, key, e in
                    guard let reference = view.fileReference(e), let seg = view.segment(e.segment) else { return }
                    let h = RecordCodec.header(at: seg.bytes(at: Int(e.offset)))
                    named.append((key ?? view.keyOf(e), reference, h.sequence))
                }
            }
        }
        var damaged: [DamagedValueFile] = []
        var referenced = Set<String>()
        for n in named {
            referenced.insert(n.reference.path)
            switch Sys.stat(path: valueFiles.fullPath(n.reference.path)) {
            case .success(let st) where Int(st.st_size) == n.reference.size:
                continue
            case .success:
                damaged.append(DamagedValueFile(key: n.key, path: n.reference.path, sequence: n.sequence, missing: false, reference: n.reference.encoded))
            case .failure:
                damaged.append(DamagedValueFile(key: n.key, path: n.reference.path, sequence: n.sequence, missing: true, reference: n.reference.encoded))
            }
        }
        var orphans: [String] = []
        for path in valueFiles.allFiles() where !referenced.contains(path) {
            guard case .success(let st) = Sys.stat(path: valueFiles.fullPath(path)), Double(modificationNanos(st)) / 1e9 < orphanCutoff else { continue }
            orphans.append(path)
        }
        return (damaged, orphans)
    }

    /// Removes a value file that ``auditValueFiles(orphanCutoff:)`` listed as an orphan, unless an
    /// entry names it by now.
    package func removeOrphanValueFile(_ path: String) throws {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        let listed = (parts.count == 2 && parts[0].utf8.count == 2 && parts[0].utf8.allSatisfy(ValueFileReference.isLowerHex)
                      && parts[1].hasSuffix(".val")) || (parts.count == 1 && path.hasPrefix("tmp-"))
        guard listed, !path.contains("..") else {
            throw CaskError(.invalidArgument, "not a value file name", path: valueFiles.fullPath(path))
        }
        let (_, orphans) = try auditValueFiles(orphanCutoff: .infinity)
        guard orphans.contains(path) else { return }
        valueFiles.remove(path)
    }
}
