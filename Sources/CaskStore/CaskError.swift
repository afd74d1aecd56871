#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one error type thrown by Cask: what was attempted, on which path, the operating system's
/// error number if there was one, and what kind of failure it is.
///
/// Match on ``code`` to react to a kind of failure; print the error to tell a person what happened.
public struct CaskError: Error, Sendable, CustomStringConvertible {
    /// A kind of failure. Extensible: new codes may be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's stable name (e.g. "io", "not-a-cache").
        public let rawValue: String
        /// A code with this name.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        /// The code's name.
        public var description: String { rawValue }

        /// A system call failed; ``CaskError/errno`` tells which error (ENOSPC, EACCES, EIO...).
        public static let io = Code("io")
        /// The directory is not a Cask cache (no metadata file, or metadata of another program).
        public static let notACache = Code("not-a-cache")
        /// A file of the cache is damaged beyond what opening can repair; `cask check --fix` may help.
        public static let corrupted = Code("corrupted")
        /// The cache was written by a newer, incompatible format version.
        public static let unsupportedVersion = Code("unsupported-version")
        /// An argument is out of range (key or value too large, bad setting).
        public static let invalidArgument = Code("invalid-argument")
        /// The handle was closed.
        public static let closed = Code("closed")
        /// A stored value does not have the type that was asked for.
        public static let typeMismatch = Code("type-mismatch")
        /// The key is not in the cache (used by operations that require it, such as `incr` without default).
        public static let notFound = Code("not-found")
        /// An operation timed out waiting for a lock.
        public static let timedOut = Code("timed-out")
        /// The cache directory could let someone else change the cache, so nothing was opened or
        /// changed: it is owned by another user, or writable by group or others, or a symbolic link
        /// stands where a file or directory of the cache belongs (those are never followed).
        public static let unsafeDirectory = Code("unsafe-directory")
        /// The handle was opened in another process, which then forked: a child shares the
        /// parent's locks, so it must open the store again itself.
        public static let forked = Code("forked")
    }

    /// What kind of failure this is.
    public var code: Code
    /// What was attempted and what went wrong.
    public var message: String
    /// The file or directory involved, if any.
    public var path: String?
    /// The `errno` of the failing system call, if any.
    public var errno: Int32?

    /// An error of kind `code`.
    public init(_ code: Code, _ message: String, path: String? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.errno = errno
    }

    /// True when the failure is a full disk or quota (ENOSPC, EDQUOT).
    public var isDiskFull: Bool { errno == ENOSPC || errno == EDQUOT }
    /// True when the failure is a permission problem (EACCES, EPERM, EROFS, or an ``Code/unsafeDirectory``).
    public var isPermissionDenied: Bool { errno == EACCES || errno == EPERM || errno == EROFS || code == .unsafeDirectory }

    /// The message, path, system error text and, for damage, what to run.
    public var description: String {
        var text = message
        if let path { text += " (\(path))" }
        if let errno {
            text += ": \(String(cString: strerror(errno))) [errno \(errno)]"
        }
        if code == .corrupted { text += "; `cask check --fix` can repair what is recoverable" }
        return text
    }

    static func io(_ what: String, path: String?, errno: Errno) -> CaskError {
        CaskError(.io, what, path: path, errno: errno.code)
    }
}
