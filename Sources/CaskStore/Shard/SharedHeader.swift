#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCaskSupport

/// The first 4 KiB of a shard's lock file, mapped shared by every process that has the shard open.
/// It is how processes tell each other what is committed without a system call per read.
///
///     0  8 bytes magic "CASKSHM2"
///     8  u64 manifest version last committed (bumped by roll, compaction, clear)
///     16 u64 committed position: active segment id << 32 | committed end offset
///     24 u64 durable position: everything before it is fsynced (same packing)
///     32 u64 pid of the writer between starting a record and publishing it (0 when idle)
///     40 u64 next record sequence number: in shard 0's header, the store-wide counter every shard's
///            appends take from (see `SequenceSource`); in the other shards' headers, unused
///     48 u64 hits        56 u64 misses        64 u64 evictions (size limit)   72 u64 expirations
///     80 u64 boot id hash of the boot that initialized this header
///     88 u64 pid of the lock holder between starting a manifest change (roll, compaction commit,
///            clear) and publishing it (0 when none is in flight; see `Shard.completeManifestChange`)
///     96 u64 second-tier hits   104 u64 second-tier misses   112 u64 second-tier errors (shard 0's
///            header only; counted by the typed layer's shared tier, see `Store.countTier`)
///    120 u64 allocated position: segment id << 32 | end of the space known allocated in that
///            segment's file (format 3; raised after `fallocate`, lowered by every cut, both under
///            the write lock; see `Shard.allocate(_:through:)`)
///    128 64 bytes: the shard write lock (Linux: a process-shared robust `pthread_mutex_t`; unused
///            elsewhere, where the lock is `flock` on the file; see `cask_write_lock`)
///
/// All fields are accessed with C11 atomics (acquire loads, release stores). The page is given
/// real disk blocks (fallocate, else zeros written) before it is mapped, and the file is never
/// truncated, so the mapping can never SIGBUS, not even on a full disk.
package final class SharedHeader: @unchecked Sendable {
    // @unchecked: `base` points into a MAP_SHARED mapping that lives until deinit; every field is
    // read and written through C11 atomics, which is what makes concurrent access safe.
    package static let fileSize = 4096
    private let base: UnsafeMutableRawPointer

    enum Field: Int {
        case version = 8, position = 16, durable = 24, writer = 32, nextSequence = 40
        case hits = 48, misses = 56, evictions = 64, expirations = 72, bootID = 80, manifestChange = 88
        case tierHits = 96, tierMisses = 104, tierErrors = 112, allocated = 120
    }

    init(mapping: UnsafeMutableRawPointer) { base = mapping }

    deinit { Sys.munmap(base, SharedHeader.fileSize) }

    @inline(__always) func load(_ f: Field) -> UInt64 { cask_atomic_load_u64(base + f.rawValue) }
    @inline(__always) func store(_ f: Field, _ v: UInt64) { cask_atomic_store_u64(base + f.rawValue, v) }
    @inline(__always) func add(_ f: Field, _ v: UInt64) { _ = cask_atomic_fetch_add_u64(base + f.rawValue, v) }
    /// Adds `v`; returns the value before.
    @inline(__always) func fetchAdd(_ f: Field, _ v: UInt64) -> UInt64 { cask_atomic_fetch_add_u64(base + f.rawValue, v) }
    @inline(__always) func raise(_ f: Field, to v: UInt64) { _ = cask_atomic_max_u64(base + f.rawValue, v) }

    var hasMagic: Bool { memcmp(base, SharedHeader.magic, 8) == 0 }

    /// "CASKSHM1" headers (before the write lock lived here) are initialized again.
    static let magic: [UInt8] = Array("CASKSHM2".utf8)

    /// Where the shard write lock lives in the page.
    static let writeLockOffset = 128

    /// The shard write lock's bytes (see `cask_write_lock`).
    var writeLock: UnsafeMutableRawPointer { base + SharedHeader.writeLockOffset }

    /// Resets every field and the write lock (only under the shard's `flock`, when the header is
    /// new, damaged or left over from an earlier boot: no process can be holding the lock).
    func initialize(bootID: UInt64, path: String) throws {
        memset(base + 8, 0, 120)
        let rc = cask_write_lock_init(writeLock)
        guard rc == 0 else { throw CaskError(.io, "cannot initialize the shard write lock", path: path, errno: rc) }
        store(.bootID, bootID)
        SharedHeader.magic.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: 8) }
    }

    /// True when this header was written during the current boot by a live or dead process of it.
    func isCurrent(bootID: UInt64) -> Bool { hasMagic && load(.bootID) == bootID }
}

/// A committed position: segment id and byte offset packed into one atomically published word.
package struct LogPosition: Hashable, Comparable, Sendable {
    package var segment: UInt32
    package var offset: UInt32

    package init(segment: UInt32, offset: UInt32) {
        self.segment = segment
        self.offset = offset
    }

    init(packed: UInt64) {
        segment = UInt32(truncatingIfNeeded: packed >> 32)
        offset = UInt32(truncatingIfNeeded: packed)
    }

    var packed: UInt64 { UInt64(segment) << 32 | UInt64(offset) }

    package static func < (a: LogPosition, b: LogPosition) -> Bool { a.packed < b.packed }
}

enum BootIdentity {
    /// A hash of the boot's identity (Linux: the kernel's boot id; Darwin: the boot session UUID,
    /// see `bootIdentityBytes`), so a shared header left by a previous boot is recognized.
    static let current: UInt64 = {
        guard let bytes = bootIdentityBytes() else { return 1 }
        return KeyHash.hash(bytes) | 1
    }()
}

/// The store-wide record sequence: the next-sequence field of shard 0's shared header, from which
/// every append of every shard, in every process, takes its number (one atomic fetch-add). Sorting
/// records by sequence therefore gives the order they were stored in, across shards and processes.
final class SequenceSource: @unchecked Sendable {
    // @unchecked: `header` is set once by `Store.init`, after every shard is open and before the
    // store is handed out (no append can run earlier), and only read afterwards.
    private(set) var header: SharedHeader?

    init() {}

    /// Uses shard 0's header, first raising its counter above every sequence the shards hold.
    func attach(_ header: SharedHeader, above maxSequence: UInt64) {
        header.raise(.nextSequence, to: maxSequence + 1)
        self.header = header
    }
}
