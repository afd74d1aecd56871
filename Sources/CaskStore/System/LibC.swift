#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The C library's calls that `Sys` wraps, under names its wrappers do not shadow (inside `enum Sys`,
// `open` means `Sys.open`). Written unqualified at file scope, each resolves to Glibc's function on
// Linux and to Darwin's on macOS and iOS; where the platforms differ, both paths are spelled out.

/// The C `struct stat` of the platform.
package typealias FileStatus = stat

@inline(__always) func libcOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }
@inline(__always) func libcClose(_ fd: Int32) -> Int32 { close(fd) }
@inline(__always) func libcPread(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ offset: Int64) -> Int {
    pread(fd, buffer, count, off_t(offset))
}
@inline(__always) func libcPwrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int, _ offset: Int64) -> Int {
    pwrite(fd, buffer, count, off_t(offset))
}
@inline(__always) func libcFtruncate(_ fd: Int32, _ length: Int64) -> Int32 { ftruncate(fd, off_t(length)) }
@inline(__always) func libcRename(_ from: String, _ to: String) -> Int32 { rename(from, to) }
@inline(__always) func libcUnlink(_ path: String) -> Int32 { unlink(path) }
@inline(__always) func libcMkdir(_ path: String, _ mode: mode_t) -> Int32 { mkdir(path, mode) }
@inline(__always) func libcMunmap(_ address: UnsafeMutableRawPointer, _ length: Int) -> Int32 { munmap(address, length) }
@inline(__always) func libcFstat(_ fd: Int32, _ st: inout FileStatus) -> Int32 { fstat(fd, &st) }

/// mmap(MAP_SHARED) of a whole file from offset 0; nil on failure (errno set).
func libcMapShared(_ fd: Int32, _ length: Int, _ protection: Int32) -> UnsafeMutableRawPointer? {
    let p = mmap(nil, length, protection, MAP_SHARED, fd, 0)
    if p == MAP_FAILED { return nil }
    return p
}

/// Makes the file's written data durable. Linux: fdatasync (the data and the metadata needed to
/// read it back). Darwin: fsync only reaches the drive, whose cache a power cut may lose, so
/// F_FULLFSYNC asks the drive to flush too; on a file system that refuses it (some network and
/// FAT volumes) fsync is the best there is.
func libcSyncData(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
    return fdatasync(fd)
    #elseif canImport(Darwin)
    if fcntl(fd, F_FULLFSYNC) == 0 { return 0 }
    return fsync(fd)
    #endif
}

/// posix_fallocate where the platform has it: 0, or an errno (not set in `errno`). Darwin has no
/// posix_fallocate: EOPNOTSUPP, and the caller writes zeros instead.
func libcAllocate(_ fd: Int32, _ offset: Int64, _ length: Int64) -> Int32 {
    #if canImport(Glibc)
    return posix_fallocate(fd, off_t(offset), off_t(length))
    #else
    return EOPNOTSUPP
    #endif
}

/// A file's modification time in ns since the epoch (`st_mtim` on Linux, `st_mtimespec` on Darwin).
package func modificationNanos(_ st: FileStatus) -> Int64 {
    #if canImport(Glibc)
    let t = st.st_mtim
    #elseif canImport(Darwin)
    let t = st.st_mtimespec
    #endif
    return Int64(t.tv_sec) &* 1_000_000_000 &+ Int64(t.tv_nsec)
}

/// Bytes that identify the current boot of the machine, or nil. Linux: the kernel's boot id.
/// Darwin: the boot session UUID (`kern.bootsessionuuid`), else the boot time (`kern.boottime`,
/// seconds only: the kernel adjusts its microseconds when the clock is set).
func bootIdentityBytes() -> [UInt8]? {
    #if canImport(Glibc)
    let fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { _ = close(fd) }
    var buffer = [UInt8](repeating: 0, count: 64)
    let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, 0) }
    return n > 0 ? Array(buffer[0..<n]) : nil
    #elseif canImport(Darwin)
    var size = 0
    if sysctlbyname("kern.bootsessionuuid", nil, &size, nil, 0) == 0, size > 0 {
        var buffer = [UInt8](repeating: 0, count: size)
        if sysctlbyname("kern.bootsessionuuid", &buffer, &size, nil, 0) == 0 {
            return Array(buffer.prefix(size))
        }
    }
    var boot = timeval()
    var length = MemoryLayout<timeval>.size
    var name: [Int32] = [CTL_KERN, KERN_BOOTTIME]
    guard sysctl(&name, 2, &boot, &length, nil, 0) == 0 else { return nil }
    return withUnsafeBytes(of: Int64(boot.tv_sec)) { Array($0) }
    #endif
}
