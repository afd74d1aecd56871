#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The value-file tier: values too large for a record live in files under `<dir>/values/xx/`,
/// named by the record that owns them (see ``ValueFileReference``). The engine is the only code
/// that creates, opens and removes them; all their I/O goes through `System/`.
///
/// Protocol (Design.md, "Value files"):
/// - A file is written to `values/tmp-<name>`, fsynced unless durability is `none`, renamed to
///   `values/xx/<name>.val`, and `values/xx/` is fsynced — all before any record names it.
/// - A file is unlinked only by the writer whose record dropped the reference (a replacing put, a
///   delete, eviction, expiry, clear), and only once that record is durable per the mode.
final class ValueFileStore: Sendable {
    let root: String
    let directory: String
    let sync: Bool

    init(directory: String, durability: Durability) {
        self.directory = directory
        root = directory + "/values"
        sync = durability != .none
    }

    func fullPath(_ relative: String) -> String { root + "/" + relative }

    /// Writes the chunks `next` returns (until nil) to a new value file.
    func write(compressed: Bool, _ next: () throws -> [UInt8]?) throws -> NewValueFile {
        let writer = try ValueFileWriter(store: self, compressed: compressed)
        do {
            while let chunk = try next() { try writer.append(chunk) }
        } catch {
            writer.abandon()
            throw error
        }
        return try writer.finish()
    }

    /// Creates `values/` and the fan-out directory of `path` if missing.
    func prepareDirectories(for path: String) throws {
        try makeDirectory(root, parent: directory)
        try makeDirectory(root + "/" + String(path.prefix(2)), parent: root)
    }

    /// Where the file that will become `path` is written: `values/tmp-<name>`.
    func temporaryPath(for path: String) -> String { root + "/tmp-" + String(path.dropFirst(3).prefix(30)) }

    /// Renames a written, synced temporary file into place and syncs its directory.
    func publish(temp: String, path: String, size: Int, compressed: Bool) throws -> NewValueFile {
        if case .failure(let e) = Sys.rename(temp, fullPath(path)) {
            _ = Sys.unlink(temp)
            throw CaskError.io("cannot rename value file into place", path: fullPath(path), errno: e)
        }
        let reference = ValueFileReference(size: size, contentFlags: compressed ? ValueFileReference.compressed : 0, path: path)
        let made = NewValueFile(reference, store: self)
        if sync {
            // On failure the file is not known durable: `made` is released unused and unlinks it.
            try FileSystem.syncDirectory(root + "/" + String(path.prefix(2)))
        }
        return made
    }

    /// Opens the file `reference` names, checking its size. Throws `.io` with errno ENOENT when
    /// it is gone (replaced by a concurrent writer, or lost).
    func open(_ reference: ValueFileReference) throws -> ValueFileReader {
        let file = try FileRef.open(fullPath(reference.path), flags: O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        let size: Int64
        do { size = try file.size() } catch { file.close(); throw error }
        guard size == Int64(reference.size) else {
            file.close()
            throw CaskError(.corrupted, "value file is \(size) bytes, its record says \(reference.size)", path: file.path)
        }
        return ValueFileReader(file: file, size: reference.size, compressed: reference.contentFlags & ValueFileReference.compressed != 0)
    }

    /// Opens the value file named by a record (flag `valueInFile`).
    func open(recordValue value: UnsafeRawBufferPointer) throws -> ValueFileReader {
        guard let reference = ValueFileReference(value) else {
            throw CaskError(.corrupted, "record holds a malformed value-file reference", path: root)
        }
        return try open(reference)
    }

    func remove(_ relative: String) { _ = Sys.unlink(fullPath(relative)) }

    /// Creates `path` if missing; a new directory's entry is made durable in `parent` when
    /// durability asks for it.
    private func makeDirectory(_ path: String, parent: String) throws {
        // A symbolic link there is refused, never followed (see FileSystem.makeDirectory).
        if try FileSystem.makeDirectory(path), sync { try FileSystem.syncDirectory(parent) }
    }

    /// Every value file and leftover temporary file, as paths relative to the root (for check).
    func allFiles() -> [String] {
        guard case .success(let top) = Sys.listDirectory(root) else { return [] }
        var out: [String] = []
        for name in top {
            if name.hasPrefix("tmp-") {
                out.append(name)
                continue
            }
            // Only the two-hex-digit fan-out directories hold value files.
            let u = Array(name.utf8)
            guard u.count == 2, u.allSatisfy(ValueFileReference.isLowerHex),
                  case .success(let files) = Sys.listDirectory(root + "/" + name) else { continue }
            for f in files where f.hasSuffix(".val") { out.append(name + "/" + f) }
        }
        return out
    }
}

/// A value file written and durable, not yet named by a record. Pass it to a write
/// (``Mutation/putFile(_:tag:expireTime:flags:)``); the record that names it takes ownership. A file
/// no record took is unlinked by ``discard()`` or, at the latest, when the object is released.
public final class NewValueFile: Sendable {
    let reference: ValueFileReference
    let store: ValueFileStore
    /// 0 pending, 1 owned by a record, 2 discarded, 3 buffered in a transaction (pending until
    /// the transaction commits or gives up; only the transaction may discard it then).
    private let state = Atomic<UInt8>(0)

    init(_ reference: ValueFileReference, store: ValueFileStore) {
        self.reference = reference
        self.store = store
    }

    deinit { discard(buffered: true) }

    /// The value's size in bytes (compressed size for a compressed value).
    public var size: Int { reference.size }

    /// Hands the file to a transaction's buffered write.
    func buffer() throws {
        if state.compareExchange(expected: 0, desired: 3, ordering: .acquiringAndReleasing).exchanged { return }
        if state.load(ordering: .acquiring) == 3 { return }
        throw misuse()
    }

    /// Claims the file for a record about to be appended; returns the state to restore if the
    /// append fails. Throws if a record already owns it or it was discarded.
    func claim() throws -> UInt8 {
        for from: UInt8 in [0, 3] where state.compareExchange(expected: from, desired: 1, ordering: .acquiringAndReleasing).exchanged {
            return from
        }
        throw misuse()
    }

    /// Gives the file back after a claimed append failed.
    func unclaim(to previous: UInt8) { state.store(previous, ordering: .releasing) }

    private func misuse() -> CaskError {
        let owned = state.load(ordering: .acquiring) == 1
        return CaskError(.invalidArgument, owned ? "a value file can be written under one key, once"
                                                 : "this value file was discarded", path: store.fullPath(reference.path))
    }

    /// Unlinks the file unless a record owns it or a transaction holds it. Idempotent.
    public func discard() { discard(buffered: false) }

    /// Unlinks the file unless a record owns it; with `buffered`, also when a transaction holds it.
    func discard(buffered: Bool) {
        if state.compareExchange(expected: 0, desired: 2, ordering: .acquiringAndReleasing).exchanged
            || (buffered && state.compareExchange(expected: 3, desired: 2, ordering: .acquiringAndReleasing).exchanged) {
            store.remove(reference.path)
        }
    }
}

/// An open value file. It stays readable after the entry is replaced or removed (the descriptor
/// keeps the data), so a reader that opened it sees the whole old value.
public final class ValueFileReader: Sendable {
    let file: FileRef
    /// Bytes in the file.
    public let size: Int
    /// The file's path (valid while its entry is current: a later write may unlink it).
    package var path: String { file.path }
    /// True when the file holds a compressed value (the layer above decompresses).
    public let isCompressed: Bool

    init(file: FileRef, size: Int, compressed: Bool) {
        self.file = file
        self.size = size
        isCompressed = compressed
    }

    deinit { file.close() }

    /// Up to `count` bytes from `offset` (fewer at the end of the file).
    public func read(at offset: Int, count: Int) throws -> [UInt8] {
        let n = max(0, min(count, size - offset))
        guard n > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: n)
        let got = try out.withUnsafeMutableBytes { try file.read(into: $0, at: Int64(offset)) }
        guard got == n else { throw CaskError(.corrupted, "value file is shorter than its record says", path: file.path) }
        return out
    }

    /// The whole file.
    public func readAll() throws -> [UInt8] { try read(at: 0, count: size) }
}
