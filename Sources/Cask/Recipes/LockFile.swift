#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCaskSupport
import CaskStore

/// One open descriptor of a lock file under `<cache>/locks/`, locked with `flock`.
///
/// `flock` locks belong to the open file description: every acquisition opens the file anew, so
/// two threads of one process exclude each other exactly as two processes do, and a process that
/// dies releases its locks with its descriptors. Opened `O_CLOEXEC`, so a child started while a lock
/// is held does not inherit it, and `O_NOFOLLOW`: a symbolic link in `locks/` is an error.
final class LockFileHandle: Sendable {
    let fd: Int32
    let path: String

    init(path: String) throws {
        var fd: Int32
        repeat { fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw CaskError(.io, "cannot open lock file", path: path, errno: errno) }
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// Takes the lock if nobody holds it. Returns false if it is held elsewhere.
    func tryLock() throws -> Bool {
        while true {
            if cask_flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
            if errno == EINTR { continue }
            if errno == EWOULDBLOCK { return false }
            throw CaskError(.io, "cannot lock", path: path, errno: errno)
        }
    }

    /// Waits (blocking the thread) until the lock is free, then takes it.
    func lock() throws {
        while cask_flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw CaskError(.io, "cannot lock", path: path, errno: errno) }
        }
    }

    /// Waits without blocking a thread: tries, then sleeps 0.5 ms doubling to 16 ms, until the
    /// lock is taken or `timeout` passes (then throws `.timedOut`).
    func lockAsync(timeout: Duration? = nil) async throws {
        let start = ContinuousClock.now
        var pause = Duration.microseconds(500)
        while try !tryLock() {
            if let timeout, ContinuousClock.now - start >= timeout {
                throw CaskError(.timedOut, "lock not acquired within \(timeout)", path: path)
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(16))
        }
    }

    /// Blocking wait with a timeout: polls as ``lockAsync(timeout:)`` does, sleeping the thread.
    func lock(timeout: Duration) throws {
        let start = ContinuousClock.now
        var pause: UInt32 = 500
        while try !tryLock() {
            if ContinuousClock.now - start >= timeout {
                throw CaskError(.timedOut, "lock not acquired within \(timeout)", path: path)
            }
            usleep(pause)
            pause = min(pause * 2, 16_000)
        }
    }

    func unlock() { _ = cask_flock(fd, LOCK_UN) }
}

extension Cache {
    /// The path of the lock file for `name`: `<dir>/locks/<readable part>-<16 hex digits>.lock`,
    /// where the readable part keeps up to 40 of the name's letters, digits, `-` and `_`, and the
    /// digits are the fixed-seed 64-bit hash of the name's UTF-8 (the same in every process).
    func lockFilePath(_ name: [UInt8]) throws -> String {
        let dir = directory + "/locks"
        if mkdir(dir, 0o700) != 0 && errno != EEXIST {
            throw CaskError(.io, "cannot create the lock directory", path: dir, errno: errno)
        }
        let readable = String(decoding: name.prefix(40).map { b -> UInt8 in
            let ok = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F
            return ok ? b : 0x5F
        }, as: UTF8.self)
        let hash = name.withUnsafeBytes { KeyHash.hash($0) }
        let hex = String(hash, radix: 16)
        return dir + "/" + readable + "-" + String(repeating: "0", count: 16 - hex.count) + hex + ".lock"
    }
}
