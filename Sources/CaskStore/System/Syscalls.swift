#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import CCaskSupport

// Every system call the engine makes goes through this file. Each wrapper returns the raw result
// and errno, retrying nothing; the helpers in FileIO.swift add EINTR and short-write handling on
// top. Tests install a `FaultInjector` to make any call fail, write short, or "crash".

/// The system calls the engine makes, as seen by a fault injector.
package enum SyscallKind: String, Sendable, CaseIterable {
    case open, close, pread, pwrite, fsync, ftruncate, fallocate, rename, unlink, mkdir, flock, mmap, fstat, readdir
}

/// What an injected fault does to one call.
package enum InjectedFault: Sendable, Equatable {
    /// The call fails with this errno and has no effect.
    case fail(Int32)
    /// A write transfers only this many bytes (then the caller sees a short write).
    case shortWrite(Int)
}

/// A test hook consulted before each system call.
package protocol FaultInjector: Sendable {
    /// Called before `call` on `path` (or the path behind the descriptor, when known).
    /// Return nil to let the call run normally.
    func fault(for call: SyscallKind, path: String?, byteCount: Int) -> InjectedFault?
    /// Called after a write or an fsync succeeded, so a fault layer can model what is durable.
    func didWrite(fd: Int32, path: String?, offset: Int64, bytes: UnsafeRawBufferPointer)
    func didSync(fd: Int32, path: String?)
    func didTruncate(fd: Int32, path: String?, length: Int64)
    /// After `fallocate` succeeded: the file is at least `end` bytes long (zeros past its old end).
    func didAllocate(fd: Int32, path: String?, end: Int64)
    func didRename(from: String, to: String)
    func didUnlink(path: String)
    /// Called after an open succeeded (with the flags it was called with), and after a mkdir.
    func didOpen(fd: Int32, path: String, flags: Int32)
    func didMakeDirectory(path: String)
}

extension FaultInjector {
    package func didWrite(fd: Int32, path: String?, offset: Int64, bytes: UnsafeRawBufferPointer) {}
    package func didSync(fd: Int32, path: String?) {}
    package func didTruncate(fd: Int32, path: String?, length: Int64) {}
    package func didAllocate(fd: Int32, path: String?, end: Int64) {}
    package func didRename(from: String, to: String) {}
    package func didUnlink(path: String) {}
    package func didOpen(fd: Int32, path: String, flags: Int32) {}
    package func didMakeDirectory(path: String) {}
}

package enum Faults {
    private static let enabled = Atomic<Bool>(false)
    private static let injector = Locked<(any FaultInjector)?>(nil)
    private static let paths = Locked<[Int32: String]>([:])

    /// Installs (or removes, with nil) the process-wide fault injector.
    package static func install(_ newValue: (any FaultInjector)?) {
        injector.withLock { $0 = newValue }
        enabled.store(newValue != nil, ordering: .releasing)
    }

    @inline(__always)
    static var active: (any FaultInjector)? {
        guard enabled.load(ordering: .acquiring) else { return nil }
        return injector.withLock { $0 }
    }

    static func remember(fd: Int32, path: String) {
        guard enabled.load(ordering: .acquiring) else { return }
        paths.withLock { $0[fd] = path }
    }

    static func path(of fd: Int32) -> String? {
        paths.withLock { $0[fd] }
    }
}

/// An `errno` value as a typed error. Matches plain errno constants in patterns: `case .failure(EINTR)`.
package struct Errno: Error, Equatable, Sendable {
    package let code: Int32
    package init(_ code: Int32) { self.code = code }
    package static func ~= (pattern: Int32, value: Errno) -> Bool { pattern == value.code }
}

/// Thin wrappers: (result, errno). No retries here.
package enum Sys {
    @inline(__always)
    private static func check(_ call: SyscallKind, path: String?, count: Int = 0) -> InjectedFault? {
        guard let hook = Faults.active else { return nil }
        return hook.fault(for: call, path: path, byteCount: count)
    }

    @inline(__always)
    private static func check(_ call: SyscallKind, fd: Int32, count: Int = 0) -> InjectedFault? {
        guard let hook = Faults.active else { return nil }
        return hook.fault(for: call, path: Faults.path(of: fd), byteCount: count)
    }

    /// open(2), always `O_CLOEXEC`, and `O_NOFOLLOW` unless `followLink`: a symbolic link as the
    /// last component fails with ELOOP instead of being followed.
    package static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o600, followLink: Bool = false) -> Result<Int32, Errno> {
        if case .fail(let e)? = check(.open, path: path) { return .failure(Errno(e)) }
        let extra = followLink ? O_CLOEXEC : O_CLOEXEC | O_NOFOLLOW
        while true {
            let fd = libcOpen(path, flags | extra, mode)
            if fd >= 0 {
                Faults.remember(fd: fd, path: path)
                if let hook = Faults.active { hook.didOpen(fd: fd, path: path, flags: flags) }
                return .success(fd)
            }
            if errno != EINTR { return .failure(Errno(errno)) }
        }
    }

    package static func close(_ fd: Int32) {
        _ = libcClose(fd)
    }

    /// One pread call. Returns bytes read (0 at end of file).
    package static func pread(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ offset: Int64) -> Result<Int, Errno> {
        if case .fail(let e)? = check(.pread, fd: fd, count: count) { return .failure(Errno(e)) }
        let n = libcPread(fd, buffer, count, offset)
        return n >= 0 ? .success(n) : .failure(Errno(errno))
    }

    /// Reports bytes just stored through a shared writable mapping of `fd` at `offset` to the fault
    /// layer, as a write (a power-loss model must see them). The store itself is a `memcpy`, which
    /// cannot fail once its space is allocated, so nothing is injected here.
    @inline(__always)
    package static func didStoreMapped(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64) {
        if let hook = Faults.active { hook.didWrite(fd: fd, path: Faults.path(of: fd), offset: offset, bytes: bytes) }
    }

    /// One pwrite call. May write fewer bytes than asked.
    package static func pwrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int, _ offset: Int64) -> Result<Int, Errno> {
        var count = count
        if let hook = Faults.active {
            switch hook.fault(for: .pwrite, path: Faults.path(of: fd), byteCount: count) {
            case .fail(let e)?: return .failure(Errno(e))
            case .shortWrite(let n)?: count = max(0, min(count, n))
            case nil: break
            }
        }
        let n = libcPwrite(fd, buffer, count, offset)
        if n < 0 { return .failure(Errno(errno)) }
        if let hook = Faults.active {
            hook.didWrite(fd: fd, path: Faults.path(of: fd), offset: offset, bytes: UnsafeRawBufferPointer(start: buffer, count: n))
        }
        return .success(n)
    }

    /// fdatasync on Linux (the data and the metadata needed to read it back); on Darwin
    /// fcntl(F_FULLFSYNC), which also flushes the drive's cache (see `libcSyncData`).
    package static func fsync(_ fd: Int32) -> Result<Void, Errno> {
        if case .fail(let e)? = check(.fsync, fd: fd) { return .failure(Errno(e)) }
        let rc = libcSyncData(fd)
        if rc != 0 { return .failure(Errno(errno)) }
        if let hook = Faults.active { hook.didSync(fd: fd, path: Faults.path(of: fd)) }
        return .success(())
    }

    package static func ftruncate(_ fd: Int32, _ length: Int64) -> Result<Void, Errno> {
        if case .fail(let e)? = check(.ftruncate, fd: fd) { return .failure(Errno(e)) }
        while true {
            if libcFtruncate(fd, length) == 0 {
                if let hook = Faults.active { hook.didTruncate(fd: fd, path: Faults.path(of: fd), length: length) }
                return .success(())
            }
            if errno != EINTR { return .failure(Errno(errno)) }
        }
    }

    /// posix_fallocate: gives `offset..<offset+length` real disk blocks, extending the file if needed.
    /// EOPNOTSUPP (or EINVAL, ENOSYS) when the file system cannot; retries EINTR.
    package static func fallocate(_ fd: Int32, _ offset: Int64, _ length: Int64) -> Result<Void, Errno> {
        if case .fail(let e)? = check(.fallocate, fd: fd, count: Int(length)) { return .failure(Errno(e)) }
        while true {
            let rc = libcAllocate(fd, offset, length)
            if rc == 0 {
                if let hook = Faults.active { hook.didAllocate(fd: fd, path: Faults.path(of: fd), end: offset + length) }
                return .success(())
            }
            if rc != EINTR { return .failure(Errno(rc)) }
        }
    }

    package static func rename(_ from: String, _ to: String) -> Result<Void, Errno> {
        if case .fail(let e)? = check(.rename, path: to) { return .failure(Errno(e)) }
        if libcRename(from, to) != 0 { return .failure(Errno(errno)) }
        if let hook = Faults.active { hook.didRename(from: from, to: to) }
        return .success(())
    }

    package static func unlink(_ path: String) -> Result<Void, Errno> {
        if case .fail(let e)? = check(.unlink, path: path) { return .failure(Errno(e)) }
        if libcUnlink(path) != 0 { return .failure(Errno(errno)) }
        if let hook = Faults.active { hook.didUnlink(path: path) }
        return .success(())
    }

    package static func mkdir(_ path: String, _ mode: mode_t) -> Result<Void, Errno> {
        if case .fail(let e)? = check(.mkdir, path: path) { return .failure(Errno(e)) }
        if libcMkdir(path, mode) != 0 { return .failure(Errno(errno)) }
        if let hook = Faults.active { hook.didMakeDirectory(path: path) }
        return .success(())
    }

    /// flock; retries EINTR for blocking requests.
    package static func flock(_ fd: Int32, _ operation: Int32) -> Result<Void, Errno> {
        if case .fail(let e)? = check(.flock, fd: fd) { return .failure(Errno(e)) }
        while true {
            if cask_flock(fd, operation) == 0 { return .success(()) }
            if errno != EINTR || operation & LOCK_NB != 0 { return .failure(Errno(errno)) }
        }
    }

    package static func mmap(_ fd: Int32, length: Int, writable: Bool) -> Result<UnsafeMutableRawPointer, Errno> {
        if case .fail(let e)? = check(.mmap, fd: fd) { return .failure(Errno(e)) }
        let protection = writable ? (PROT_READ | PROT_WRITE) : PROT_READ
        guard let p = libcMapShared(fd, length, protection) else { return .failure(Errno(errno)) }
        return .success(p)
    }

    package static func munmap(_ address: UnsafeMutableRawPointer, _ length: Int) {
        _ = libcMunmap(address, length)
    }

    package static func fileSize(_ fd: Int32) -> Result<Int64, Errno> {
        if case .fail(let e)? = check(.fstat, fd: fd) { return .failure(Errno(e)) }
        var st = FileStatus()
        return libcFstat(fd, &st) == 0 ? .success(Int64(st.st_size)) : .failure(Errno(errno))
    }

    package static func stat(path: String) -> Result<FileStatus, Errno> {
        if case .fail(let e)? = check(.fstat, path: path) { return .failure(Errno(e)) }
        var st = FileStatus()
        return cask_stat(path, &st) == 0 ? .success(st) : .failure(Errno(errno))
    }

    /// lstat: a symbolic link is described, not followed.
    package static func lstat(path: String) -> Result<FileStatus, Errno> {
        if case .fail(let e)? = check(.fstat, path: path) { return .failure(Errno(e)) }
        var st = FileStatus()
        return cask_lstat(path, &st) == 0 ? .success(st) : .failure(Errno(errno))
    }

    /// Names in a directory, without "." and "..".
    package static func listDirectory(_ path: String) -> Result<[String], Errno> {
        if case .fail(let e)? = check(.readdir, path: path) { return .failure(Errno(e)) }
        guard let dir = opendir(path) else { return .failure(Errno(errno)) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return .success(names)
    }
}
