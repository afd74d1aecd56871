#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CaskStore

extension Cache {
    /// Refuses a cache whose typed-layer directories (`values/`, its two-hex-digit fan-out
    /// directories, `locks/`) include a symbolic link: files are created in them by name, and
    /// `O_NOFOLLOW` only guards the last component of a path. The store has already checked the
    /// cache directory (this user's, not writable by group or others), so nobody else can plant a
    /// link after this check.
    static func checkEntries(_ directory: String) throws {
        let values = directory + "/values"
        try checkDirectory(values)
        try checkDirectory(directory + "/locks")
        guard let dir = opendir(values) else { return }
        defer { closedir(dir) }
        while let e = readdir(dir) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard name.count == 2, name.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { continue }
            try checkDirectory(values + "/" + name)
        }
    }

    /// Throws if `path` exists and is not a real directory (a symbolic link in particular).
    private static func checkDirectory(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if st.st_mode & S_IFMT == S_IFLNK {
            throw CaskError(.unsafeDirectory, "is a symbolic link where a directory of the cache belongs; entries inside a cache are never followed",
                            path: path, errno: ELOOP)
        }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw CaskError(.corrupted, "exists and is not a directory", path: path, errno: ENOTDIR)
        }
    }
}
