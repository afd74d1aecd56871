import Cask
import Foundation

/// Why a cache on a read-only medium (or with lock files this user may not write) cannot be opened,
/// even to read. Every open of a cache takes each shard's `lock` file read-write: it holds a flock
/// there and maps the shard's shared header from it, and the first open after a boot or a crash
/// rewrites that header and truncates torn log tails. The engine has no read-only mode yet, so the
/// tool says exactly that instead of a bare errno.
enum ReadOnlyMedium {
    /// A clearer error for `error` from opening the cache at `directory`, or nil when it is not
    /// about write access.
    static func explain(_ error: CaskError, directory: String) -> CaskError? {
        guard error.code == .io, let errno = error.errno, errno == EROFS || errno == EACCES || errno == EPERM else { return nil }
        let file = error.path ?? directory
        let why = errno == EROFS ? "\(directory) is on a read-only file system" : "this user may not write \(file)"
        return CaskError(.io, "\(why): \(error.message) \(file): \(String(cString: strerror(errno))) [errno \(errno)]. "
                         + "Opening a cache, even to read, takes each shard's lock file read-write (a flock and the "
                         + "shard's shared header live there) and may repair torn writes, so Cask cannot read it in "
                         + "place: copy it somewhere writable (cp -a \(directory) /tmp/cache-copy) and read the copy"
                         + (errno == EROFS ? ", or mount the medium read-write" : ", or run as the cache's owner"),
                         path: nil, errno: nil)
    }
}
