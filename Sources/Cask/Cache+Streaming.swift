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
        case file(Int32)
    }
    private let state: Locked<(source: Source, offset: Int)>
    /// Total size of the value in bytes.
    public let size: Int

    init(bytes: [UInt8]) {
        state = Locked((.memory(bytes), 0))
        size = bytes.count
    }

    init(fd: Int32, size: Int) {
        state = Locked((.file(fd), 0))
        self.size = size
    }

    deinit {
        state.withLock { s in if case .file(let fd) = s.source { close(fd) } }
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
            case .file(let fd):
                var out = [UInt8](repeating: 0, count: n)
                var done = 0
                while done < n {
                    let r = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, n - done, off_t(s.offset + done)) }
                    if r < 0 && errno == EINTR { continue }
                    guard r > 0 else { throw CaskError(.io, "cannot read value file", errno: r < 0 ? errno : EIO) }
                    done += r
                }
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
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CaskError(.io, "cannot open input file", path: path, errno: errno) }
        defer { Glibc.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        let ref = try files.write(compressed: false) {
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw CaskError(.io, "cannot read input file", path: path, errno: errno) }
                return n == 0 ? nil : Array(buffer[0..<n])
            }
        }
        try storeFile(key.cacheKeyBytes, ref, expire: expire, tag: tag)
    }

    /// Stores a sequence of byte chunks under `key` (as bytes), streaming them into a value file.
    public func set<S: AsyncSequence>(_ key: some CacheKey, chunks: S, expire: Expiry? = nil, tag: String? = nil) async throws
    where S.Element == [UInt8] {
        // Collecting to a temporary file keeps memory flat; the file becomes the value file.
        var pieces = chunks.makeAsyncIterator()
        var collected: [[UInt8]] = []
        var pending = 0
        let temp = directory + "/values/tmp-stream-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        _ = mkdir(directory + "/values", 0o700)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CaskError(.io, "cannot create a temporary file", path: temp, errno: errno) }
        defer { Glibc.close(fd); unlink(temp) }
        while let piece = try await pieces.next() {
            collected.append(piece)
            pending += piece.count
            if pending >= 1 << 20 {
                for c in collected { try ValueFiles.writeAll(fd, c, path: temp) }
                collected.removeAll()
                pending = 0
            }
        }
        for c in collected { try ValueFiles.writeAll(fd, c, path: temp) }
        // Storing waits for the shard's write lock: off the cooperative pool.
        try await offload { try self.set(key, contentsOfFile: temp, expire: expire, tag: tag) }
    }

    func storeFile(_ key: [UInt8], _ ref: ValueFiles.Reference, expire: Expiry?, tag: String?) throws {
        let t = now
        let outcome: WriteOutcome
        do {
            outcome = try store.put(key, ref.encoded, tag: Array((tag ?? "").utf8), expireTime: expireTime(expire, now: t),
                                    flags: ValueEncoding.bytes.flags | RecordFlags.valueInFile.rawValue, now: t, cull: cullRequest)
        } catch {
            files.remove(ref)
            throw error
        }
        if let old = outcome.replacedFile { removeFiles([old]) }
        removeFiles(of: outcome.culled)
    }

    /// Opens the value of `key` for reading piece by piece, or returns nil if absent.
    public func openValue(_ key: some CacheKey) throws -> ValueReader? {
        let k = key.cacheKeyBytes
        for _ in 0..<2 {
            guard let stored = try k.withUnsafeBytes({ kb in try store.read(kb, now: now) { try Cache.capture($0) } }) else { return nil }
            switch stored {
            case .inline(_, let bytes):
                return ValueReader(bytes: bytes)
            case .file(_, let ref) where ref.compressed:
                return ValueReader(bytes: try files.read(ref))
            case .file(_, let ref):
                let fd = open(files.fullPath(ref), O_RDONLY | O_CLOEXEC)
                if fd < 0 && errno == ENOENT { continue }  // replaced meanwhile: look again
                guard fd >= 0 else { throw CaskError(.io, "cannot open value file", path: files.fullPath(ref), errno: errno) }
                return ValueReader(fd: fd, size: ref.size)
            }
        }
        return nil
    }

    // MARK: Async overloads for work that may block long

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

    /// ``get(_:as:)`` without blocking the caller's executor (large values).
    public func get<V: Decodable & Sendable>(_ key: some CacheKey, as type: V.Type = V.self) async throws -> V? {
        try await offload { try self.get(key, as: type) }
    }

    /// ``set(_:_:expire:tag:)-(_,V,_,_)`` without blocking the caller's executor (large values).
    public func set<V: Encodable & Sendable>(_ key: some CacheKey, _ value: V, expire: Expiry? = nil, tag: String? = nil) async throws {
        try await offload { try self.set(key, value, expire: expire, tag: tag) }
    }

    /// ``compact()`` without blocking the caller's executor.
    @discardableResult
    public func compact() async throws -> [CompactionResult] { try await offload { try self.compact() } }

    /// ``check(fix:)`` without blocking the caller's executor.
    public func check(fix: Bool = false) async throws -> CheckReport { try await offload { try self.check(fix: fix) } }
}
