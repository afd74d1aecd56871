#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A value file written from chunks handed over one at a time, for data that arrives piece by piece
/// from elsewhere (a download). Same protocol as ``ValueFileStore/write(compressed:_:)``: the bytes go
/// to `values/tmp-<name>`; ``finish()`` makes them durable and renames the file into place, giving a
/// ``NewValueFile`` for a write. ``abandon()``, an append that fails, or releasing the writer
/// unfinished removes the temporary file, so a failed transfer leaves nothing behind.
package final class ValueFileWriter: Sendable {
    private struct State {
        var file: FileRef?
        var size = 0
    }
    private let state: Mutex<State>
    private let store: ValueFileStore
    private let path: String
    private let temp: String
    private let compressed: Bool

    init(store: ValueFileStore, compressed: Bool) throws {
        self.store = store
        self.compressed = compressed
        path = ValueFileReference.randomPath()
        try store.prepareDirectories(for: path)
        temp = store.temporaryPath(for: path)
        let file = try FileRef.open(temp, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC)
        state = Mutex(State(file: file))
    }

    deinit { abandon() }

    /// Bytes appended so far.
    package var size: Int { state.withLock { $0.size } }

    /// Appends `bytes`. On failure the temporary file is removed and the writer is finished.
    package func append(_ bytes: UnsafeRawBufferPointer) throws {
        try state.withLock { s in
            guard let file = s.file else {
                throw CaskError(.invalidArgument, "this value file is already finished or abandoned", path: temp)
            }
            do {
                try file.write(bytes, at: Int64(s.size))
            } catch {
                file.close()
                _ = Sys.unlink(temp)
                s.file = nil
                throw error
            }
            s.size += bytes.count
        }
    }

    /// Appends `bytes`; see ``append(_:)-(UnsafeRawBufferPointer)``.
    package func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (raw) throws in try append(raw) }
    }

    /// Makes the file durable (per the durability mode) and moves it into place. The writer is
    /// finished afterwards, whatever happens.
    package func finish() throws -> NewValueFile {
        let (file, size): (FileRef, Int) = try state.withLock { s in
            guard let file = s.file else {
                throw CaskError(.invalidArgument, "this value file is already finished or abandoned", path: temp)
            }
            s.file = nil
            return (file, s.size)
        }
        do {
            if store.sync { try file.sync() }
            file.close()
        } catch {
            file.close()
            _ = Sys.unlink(temp)
            throw error
        }
        return try store.publish(temp: temp, path: path, size: size, compressed: compressed)
    }

    /// Removes the temporary file unless the writer finished. Idempotent.
    package func abandon() {
        let file: FileRef? = state.withLock { s in
            defer { s.file = nil }
            return s.file
        }
        guard let file else { return }
        file.close()
        _ = Sys.unlink(temp)
    }
}

extension Store {
    /// Starts a value file written chunk by chunk (see ``ValueFileWriter``), for a later
    /// ``Mutation/putFile(_:tag:expireTime:flags:)``.
    package func beginValueFile(compressed: Bool) throws -> ValueFileWriter {
        try ValueFileWriter(store: valueFiles, compressed: compressed)
    }
}
