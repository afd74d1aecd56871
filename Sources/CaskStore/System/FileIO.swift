#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open file descriptor with its path, and the EINTR/short-transfer handling the engine relies on.
/// Not reference-counted: whoever opens it closes it.
package struct FileRef: Sendable {
    package let fd: Int32
    package let path: String

    /// Opens `path` (`O_CLOEXEC | O_NOFOLLOW`): a symbolic link there is an `unsafeDirectory`
    /// error, never followed.
    package static func open(_ path: String, flags: Int32, mode: mode_t = 0o600) throws -> FileRef {
        switch Sys.open(path, flags, mode) {
        case .success(let fd): return FileRef(fd: fd, path: path)
        case .failure(ELOOP): throw FileSystem.symbolicLinkError(path)
        case .failure(let e): throw CaskError.io("cannot open file", path: path, errno: e)
        }
    }

    package func close() { Sys.close(fd) }

    /// Writes all of `bytes` at `offset`, retrying EINTR and continuing after short writes.
    package func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            switch Sys.pwrite(fd, bytes.baseAddress! + done, bytes.count - done, offset + Int64(done)) {
            case .success(let n):
                if n == 0 { throw CaskError.io("write made no progress", path: path, errno: Errno(EIO)) }
                done += n
            case .failure(EINTR): continue
            case .failure(let e): throw CaskError.io("cannot write", path: path, errno: e)
            }
        }
    }

    package func write(_ bytes: [UInt8], at offset: Int64) throws {
        try bytes.withUnsafeBytes { (raw) throws in try write(raw, at: offset) }
    }

    /// Reads up to `buffer.count` bytes at `offset`; returns how many were read (fewer only at end of file).
    package func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var done = 0
        while done < buffer.count {
            switch Sys.pread(fd, buffer.baseAddress! + done, buffer.count - done, offset + Int64(done)) {
            case .success(0): return done
            case .success(let n): done += n
            case .failure(EINTR): continue
            case .failure(let e): throw CaskError.io("cannot read", path: path, errno: e)
            }
        }
        return done
    }

    /// Reads the whole file (for small files: manifests, hints, metadata).
    package func readAll(limit: Int) throws -> [UInt8] {
        let size = try self.size()
        guard size <= Int64(limit) else {
            throw CaskError(.corrupted, "file is larger than expected (\(size) bytes)", path: path)
        }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let n = try bytes.withUnsafeMutableBytes { (raw) throws in try read(into: raw, at: 0) }
        bytes.removeLast(bytes.count - n)
        return bytes
    }

    /// Flushes written data to stable storage. A failure is reported, never retried: after a failed
    /// fsync the kernel may have dropped the dirty pages, so the data is not known to be safe.
    package func sync() throws {
        if case .failure(let e) = Sys.fsync(fd) { throw CaskError.io("fsync failed; recent writes may not be durable", path: path, errno: e) }
    }

    package func truncate(to length: Int64) throws {
        if case .failure(let e) = Sys.ftruncate(fd, length) { throw CaskError.io("cannot truncate", path: path, errno: e) }
    }

    /// Gives the first `length` bytes of the file real disk blocks (extending it if shorter), so a
    /// store into a mapping of them can never fault for want of space. Where the file system has
    /// no fallocate, writes zeros over the part past the current end instead (what lies before it
    /// holds data already). A full disk is an `io` error with ENOSPC.
    package func allocate(length: Int64) throws {
        switch Sys.fallocate(fd, 0, length) {
        case .success: return
        case .failure(EOPNOTSUPP), .failure(ENOSYS), .failure(EINVAL):
            let end = try size()
            if end < length { try write([UInt8](repeating: 0, count: Int(length - end)), at: end) }
        case .failure(let e): throw CaskError.io("cannot allocate disk space", path: path, errno: e)
        }
    }

    package func size() throws -> Int64 {
        switch Sys.fileSize(fd) {
        case .success(let s): return s
        case .failure(let e): throw CaskError.io("cannot stat", path: path, errno: e)
        }
    }
}

package enum FileSystem {
    /// fsync on a directory, so that entries created, renamed or removed in it are durable.
    /// The one open that follows a final symbolic link: the cache directory the user names may be
    /// one, and a directory opened read-only to fsync it is neither read nor written. Every
    /// directory inside a cache was checked with lstat (`makeDirectory`) before this is reached.
    package static func syncDirectory(_ path: String) throws {
        let fd: Int32
        switch Sys.open(path, O_RDONLY | O_DIRECTORY, followLink: true) {
        case .success(let d): fd = d
        case .failure(let e): throw CaskError.io("cannot open directory", path: path, errno: e)
        }
        let dir = FileRef(fd: fd, path: path)
        defer { dir.close() }
        try dir.sync()
    }

    /// Creates `path` (mode 0700) if it does not exist. Returns true if it was created. An
    /// existing symbolic link there is an `unsafeDirectory` error unless `followLink` (only for
    /// the cache directory itself, which the user names).
    @discardableResult
    package static func makeDirectory(_ path: String, followLink: Bool = false) throws -> Bool {
        switch Sys.mkdir(path, 0o700) {
        case .success: return true
        case .failure(EEXIST):
            let found = followLink ? Sys.stat(path: path) : Sys.lstat(path: path)
            if case .success(let st) = found, (st.st_mode & S_IFMT) == S_IFLNK { throw symbolicLinkError(path) }
            guard case .success(let st) = found, (st.st_mode & S_IFMT) == S_IFDIR else {
                throw CaskError(.notACache, "exists and is not a directory", path: path, errno: ENOTDIR)
            }
            return false
        case .failure(let e): throw CaskError.io("cannot create directory", path: path, errno: e)
        }
    }

    /// True if something (a symbolic link included, dangling or not) is at `path`.
    package static func exists(_ path: String) -> Bool {
        if case .success = Sys.lstat(path: path) { return true }
        return false
    }

    /// Refuses a cache directory someone else could change under the store: not owned by this
    /// process's effective user, or writable by group or others. (A symbolic link as `path` is
    /// followed: the user named it; the directory it leads to is what is checked.)
    package static func checkTrusted(_ path: String) throws {
        let st: stat
        switch Sys.stat(path: path) {
        case .success(let s): st = s
        case .failure(let e): throw CaskError.io("cannot inspect cache directory", path: path, errno: e)
        }
        let me = geteuid()
        guard st.st_uid == me else {
            throw CaskError(.unsafeDirectory, "cache directory is owned by uid \(st.st_uid), not by this user (uid \(me)); "
                            + "another user could change the cache, so it is not used", path: path, errno: EACCES)
        }
        guard st.st_mode & (S_IWGRP | S_IWOTH) == 0 else {
            let mode = String(st.st_mode & 0o7777, radix: 8)
            throw CaskError(.unsafeDirectory, "cache directory is writable by group or others (mode \(mode)); "
                            + "run `chmod go-w` on it or use another directory", path: path, errno: EACCES)
        }
    }

    static func symbolicLinkError(_ path: String) -> CaskError {
        CaskError(.unsafeDirectory, "is a symbolic link where an entry of the cache belongs; entries inside a cache are never followed",
                  path: path, errno: ELOOP)
    }

    /// Replaces `path` with `bytes` atomically: write a temporary file, fsync it, rename it over
    /// `path`, fsync the directory. A crash leaves either the old or the new content.
    package static func replaceAtomically(_ path: String, with bytes: [UInt8], directory: String) throws {
        let temp = "\(path).tmp.\(getpid())"
        let file = try FileRef.open(temp, flags: O_WRONLY | O_CREAT | O_TRUNC)
        do {
            try file.write(bytes, at: 0)
            try file.sync()
            file.close()
        } catch {
            file.close()
            _ = Sys.unlink(temp)
            throw error
        }
        if case .failure(let e) = Sys.rename(temp, path) {
            _ = Sys.unlink(temp)
            throw CaskError.io("cannot rename into place", path: path, errno: e)
        }
        try syncDirectory(directory)
    }

    package static func remove(_ path: String) throws {
        switch Sys.unlink(path) {
        case .success, .failure(ENOENT): return
        case .failure(let e): throw CaskError.io("cannot remove", path: path, errno: e)
        }
    }
}
