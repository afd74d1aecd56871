#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CaskStore
import Dispatch
import Synchronization

/// Reads a stored value piece by piece. A value in a value file is read from the file (which
/// stays readable even if the entry is replaced meanwhile); a small value is already in memory.
public final class ValueReader: Sendable {
    private enum Source {
        case memory([UInt8])
        case file(ValueFileReader)
    }
    private let state: Locked<(source: Source, offset: Int)>
    /// Total size of the value in bytes.
    public let size: Int

    init(bytes: [UInt8]) {
        state = Locked((.memory(bytes), 0))
        size = bytes.count
    }

    init(file: ValueFileReader) {
        state = Locked((.file(file), 0))
        size = file.size
    }

    /// The next up to `count` bytes; empty at the end.
    public func read(upToCount count: Int) throws -> [UInt8] {
        try state.withLock { s in
            let n = max(0, min(count, size - s.offset))
            guard n > 0 else { return [] }
            switch s.source {
            case .memory(let bytes):
                defer { s.offset += n }
                return Array(bytes[s.offset..<s.offset + n])
            case .file(let file):
                let out = try file.read(at: s.offset, count: n)
                s.offset += n
                return out
            }
        }
    }

    /// The rest of the value as an async sequence of chunks.
    public func chunks(of size: Int = 1 << 20) -> AsyncThrowingStream<[UInt8], any Error> {
        AsyncThrowingStream { continuation in
            do {
                while true {
                    let chunk = try self.read(upToCount: size)
                    if chunk.isEmpty { break }
                    continuation.yield(chunk)
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
    }
}

extension Cache {
    /// Stores the contents of the file at `path` under `key` (as bytes), streaming it into a value
    /// file in 1 MiB pieces without loading it whole.
    public func set(_ key: some CacheKey, contentsOfFile path: String, expire: Expiry? = nil, tag: String? = nil) throws {
        let t = now
        let exp = try expireTime(expire, now: t)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CaskError(.io, "cannot open input file", path: path, errno: errno) }
        defer { closeDescriptor(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        let file = try store.writeValueFile(compressed: false) {
            while true {
                let n = buffer.withUnsafeMutableBytes { readDescriptor(fd, $0.baseAddress!, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw CaskError(.io, "cannot read input file", path: path, errno: errno) }
                return n == 0 ? nil : Array(buffer[0..<n])
            }
        }
        defer { file.discard() }
        let write = Mutation.putFile(file, tag: Array((tag ?? "").utf8), expireTime: exp, flags: ValueEncoding.bytes.flags)
        try store.mutate(key.cacheKeyBytes, now: t) { _ in (write, ()) }
    }

    /// Stores a sequence of byte chunks under `key` (as bytes), streaming them into a value file.
    public func set<S: AsyncSequence>(_ key: some CacheKey, chunks: S, expire: Expiry? = nil, tag: String? = nil) async throws
    where S.Element == [UInt8] {
        // Collecting to a temporary file keeps memory flat; it is then copied into a value file.
        var pieces = chunks.makeAsyncIterator()
        var collected: [[UInt8]] = []
        var pending = 0
        var template = Array("/tmp/cask-stream-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw CaskError(.io, "cannot create a temporary file", path: "/tmp", errno: errno) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let temp = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { closeDescriptor(fd); unlink(temp) }
        func flush() throws {
            for c in collected {
                var done = 0
                while done < c.count {
                    let n = c.withUnsafeBytes { writeDescriptor(fd, $0.baseAddress! + done, c.count - done) }
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw CaskError(.io, "cannot write a temporary file", path: temp, errno: n < 0 ? errno : EIO) }
                    done += n
                }
            }
            collected.removeAll()
            pending = 0
        }
        while let piece = try await pieces.next() {
            collected.append(piece)
            pending += piece.count
            if pending >= 1 << 20 { try flush() }
        }
        try flush()
        // Storing waits for the shard's write lock: off the cooperative pool.
        try await offload { try self.set(key, contentsOfFile: temp, expire: expire, tag: tag) }
    }

    /// Opens the value of `key` for reading piece by piece, or returns nil if absent.
    public func openValue(_ key: some CacheKey) throws -> ValueReader? {
        guard let (stored, _, _, _) = try storedEntry(key.cacheKeyBytes) else { return nil }
        switch stored {
        case .inline(_, let bytes):
            return ValueReader(bytes: bytes)
        case .file(_, let file) where file.isCompressed:
            return ValueReader(bytes: try materialize(stored).1)
        case .file(_, let file):
            return ValueReader(file: file)
        }
    }

    // MARK: Async variants for work that may block long

    // These have names of their own, not async overloads of `get`/`set`/`compact`/`check`: inside an
    // async function the compiler prefers an async overload, so a same-named one would force `await`
    // onto every fast call. The plain methods stay callable without `await` from any context.

    /// Runs blocking work off the caller's executor. Each call gets a serial queue of its own:
    /// serial queues run on the overcommitting thread pool, which adds a thread when the others are
    /// blocked (waiting for a shard's lock, say). The global concurrent queues, and the cooperative
    /// pool that runs tasks, are limited to about one thread per core, so work blocked there stalls
    /// every task.
    func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue(label: "cask.blocking").async {
                continuation.resume(with: Result { try work() })
            }
        }
    }

    /// ``get(_:as:)`` run on a helper thread while the calling task suspends: for large values, or
    /// when a writer in another process may hold the shard's lock for long.
    public func getInBackground<V: Decodable & Sendable>(_ key: some CacheKey, as type: V.Type = V.self) async throws -> V? {
        try await offload { try self.get(key, as: type) }
    }

    /// ``set(_:_:expire:tag:)-(_,V,_,_)`` run on a helper thread while the calling task suspends
    /// (large values).
    public func setInBackground<V: Encodable & Sendable>(_ key: some CacheKey, _ value: V, expire: Expiry? = nil, tag: String? = nil) async throws {
        try await offload { try self.set(key, value, expire: expire, tag: tag) }
    }

    /// ``compact()`` run on a helper thread while the calling task suspends.
    @discardableResult
    public func compactInBackground() async throws -> [CompactionResult] { try await offload { try self.compact() } }

    /// ``check(fix:)`` run on a helper thread while the calling task suspends.
    public func checkInBackground(fix: Bool = false) async throws -> CheckReport { try await offload { try self.check(fix: fix) } }
}

// The C library's calls (Glibc's or Darwin's, unqualified at file scope): inside `Cache`, `close`
// would mean `Cache.close()`.
private func closeDescriptor(_ fd: Int32) { _ = close(fd) }
private func readDescriptor(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int { read(fd, buffer, count) }
private func writeDescriptor(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }
