import CaskTestSupport
import Foundation
import Synchronization
@testable import CaskStore

/// A fault injector that records every file-system effect the engine has under one directory, so a
/// test can rebuild the state a power loss would leave at any moment of the recording.
///
/// The model is deliberately conservative (what POSIX promises, not what one file system does):
/// * file data is durable only once the file is fsynced (`fdatasync` covers data and size);
/// * a directory entry (a created, renamed or removed name, a new subdirectory) is durable only once
///   its directory is fsynced;
/// * anything not yet durable may be lost, or partly kept: the unsynced operations of each file and
///   each directory survive as a prefix, the last one possibly torn (a write cut short).
///
/// The recorded directory itself is assumed to exist durably. Only paths under it are recorded.
final class PowerLossRecorder: FaultInjector {
    let root: String
    private let prefix: String
    private let log = Locked(Recording())
    /// Faults to inject while recording (a failed call has no effect, so nothing is recorded for it).
    let faults: ScriptedFaults?

    enum Event {
        case create(path: String, inode: Int)
        case makeDirectory(path: String)
        case write(inode: Int, offset: Int, bytes: [UInt8])
        case truncate(inode: Int, length: Int)
        /// fallocate: the file is at least `length` bytes long, zeros past its old end.
        case allocate(inode: Int, length: Int)
        case syncFile(inode: Int)
        case syncDirectory(path: String)
        case rename(from: String, to: String)
        case unlink(path: String)
        /// A note from the test ("operation 7 returned"); no effect on files.
        case mark(String)
    }

    private struct Recording {
        var events: [Event] = []
        var names: [String: Int] = [:]
        var descriptors: [Int32: Int] = [:]
        var directoryDescriptors: [Int32: String] = [:]
        var nextInode = 1
    }

    init(root: String, faults: ScriptedFaults? = nil) {
        self.root = root
        self.faults = faults
        prefix = root.hasSuffix("/") ? root : root + "/"
    }

    private func covers(_ path: String?) -> Bool {
        guard let path else { return false }
        return path.hasPrefix(prefix) || path == root
    }

    // MARK: FaultInjector

    func fault(for call: SyscallKind, path: String?, byteCount: Int) -> InjectedFault? {
        faults?.fault(for: call, path: path, byteCount: byteCount)
    }

    func didOpen(fd: Int32, path: String, flags: Int32) {
        guard covers(path) else { return }
        log.withLock { r in
            if flags & O_DIRECTORY != 0 {
                r.directoryDescriptors[fd] = path
                r.descriptors[fd] = nil
                return
            }
            r.directoryDescriptors[fd] = nil
            if let inode = r.names[path] {
                if flags & O_TRUNC != 0 { r.events.append(.truncate(inode: inode, length: 0)) }
                r.descriptors[fd] = inode
            } else {
                let inode = r.nextInode
                r.nextInode += 1
                r.names[path] = inode
                r.events.append(.create(path: path, inode: inode))
                r.descriptors[fd] = inode
            }
        }
    }

    func didMakeDirectory(path: String) {
        guard covers(path) else { return }
        log.withLock { $0.events.append(.makeDirectory(path: path)) }
    }

    func didWrite(fd: Int32, path: String?, offset: Int64, bytes: UnsafeRawBufferPointer) {
        guard covers(path) else { return }
        log.withLock { r in
            guard let inode = r.descriptors[fd] else { return }
            r.events.append(.write(inode: inode, offset: Int(offset), bytes: Array(bytes)))
        }
    }

    func didTruncate(fd: Int32, path: String?, length: Int64) {
        guard covers(path) else { return }
        log.withLock { r in
            guard let inode = r.descriptors[fd] else { return }
            r.events.append(.truncate(inode: inode, length: Int(length)))
        }
    }

    func didAllocate(fd: Int32, path: String?, end: Int64) {
        guard covers(path) else { return }
        log.withLock { r in
            guard let inode = r.descriptors[fd] else { return }
            r.events.append(.allocate(inode: inode, length: Int(end)))
        }
    }

    func didSync(fd: Int32, path: String?) {
        guard covers(path) else { return }
        log.withLock { r in
            if let dir = r.directoryDescriptors[fd] {
                r.events.append(.syncDirectory(path: dir))
            } else if let inode = r.descriptors[fd] {
                r.events.append(.syncFile(inode: inode))
            }
        }
    }

    func didRename(from: String, to: String) {
        guard covers(to) else { return }
        log.withLock { r in
            r.names[to] = r.names.removeValue(forKey: from)
            r.events.append(.rename(from: from, to: to))
        }
    }

    func didUnlink(path: String) {
        guard covers(path) else { return }
        log.withLock { r in
            r.names[path] = nil
            r.events.append(.unlink(path: path))
        }
    }

    // MARK: Reading the recording

    func mark(_ note: String) { log.withLock { $0.events.append(.mark(note)) } }

    var events: [Event] { log.withLock { $0.events } }
}

/// Which of the not-yet-durable operations a simulated power loss keeps.
enum UnsyncedSurvival {
    /// Only what was fsynced.
    case none
    /// Everything (the page cache made it to disk; same as a process crash).
    case all
    /// For each file and directory independently, a random prefix of its unsynced operations,
    /// the last kept write possibly torn.
    case random(seed: UInt64)
}

/// Replays a recording up to a point and writes the resulting crash state into a directory.
struct PowerLossState {
    private enum Entry: Equatable { case file(Int), directory }
    private enum DataOp { case write(Int, [UInt8]), truncate(Int), allocate(Int) }
    private enum NameOp { case set(String, Entry), remove(String) }

    private struct Inode {
        var durable: [UInt8] = []
        var pending: [DataOp] = []
    }

    private struct Directory {
        var durable: [String: Entry] = [:]
        var current: [String: Entry] = [:]
        var pending: [NameOp] = []
    }

    private var inodes: [Int: Inode] = [:]
    private var directories: [String: Directory]
    private let root: String

    /// The state after the first `count` events of `events`.
    init(root: String, events: ArraySlice<PowerLossRecorder.Event>) {
        self.root = root
        directories = [root: Directory()]
        for e in events { apply(e) }
    }

    private static func split(_ path: String) -> (String, String) {
        let slash = path.lastIndex(of: "/")!
        return (String(path[..<slash]), String(path[path.index(after: slash)...]))
    }

    private static func applied(_ content: [UInt8], _ op: DataOp) -> [UInt8] {
        var c = content
        switch op {
        case .write(let offset, let bytes):
            if c.count < offset + bytes.count { c += [UInt8](repeating: 0, count: offset + bytes.count - c.count) }
            c.replaceSubrange(offset..<offset + bytes.count, with: bytes)
        case .truncate(let length):
            if length < c.count { c.removeLast(c.count - length) } else { c += [UInt8](repeating: 0, count: length - c.count) }
        case .allocate(let length):
            if length > c.count { c += [UInt8](repeating: 0, count: length - c.count) }
        }
        return c
    }

    private func current(_ inode: Inode) -> [UInt8] { inode.pending.reduce(inode.durable, PowerLossState.applied) }

    private mutating func apply(_ event: PowerLossRecorder.Event) {
        switch event {
        case .create(let path, let inode):
            inodes[inode] = Inode()
            setName(path, .file(inode))
        case .makeDirectory(let path):
            directories[path] = Directory()
            setName(path, .directory)
        case .write(let inode, let offset, let bytes):
            inodes[inode]?.pending.append(.write(offset, bytes))
        case .truncate(let inode, let length):
            inodes[inode]?.pending.append(.truncate(length))
        case .allocate(let inode, let length):
            inodes[inode]?.pending.append(.allocate(length))
        case .syncFile(let inode):
            if let i = inodes[inode] { inodes[inode] = Inode(durable: current(i)) }
        case .syncDirectory(let path):
            if var d = directories[path] {
                d.durable = d.current
                d.pending = []
                directories[path] = d
            }
        case .rename(let from, let to):
            let (dirA, a) = PowerLossState.split(from)
            let (dirB, b) = PowerLossState.split(to)
            guard let entry = directories[dirA]?.current[a] else { return }
            directories[dirA]!.current[a] = nil
            directories[dirB]?.current[b] = entry
            if dirA == dirB {
                directories[dirA]!.pending += [.remove(a), .set(b, entry)]
            } else {
                // Across directories each side becomes durable with its own directory's fsync:
                // a power cut may keep the old name, the new one, both or neither.
                directories[dirA]!.pending.append(.remove(a))
                directories[dirB]?.pending.append(.set(b, entry))
            }
        case .unlink(let path):
            let (dir, name) = PowerLossState.split(path)
            directories[dir]?.current[name] = nil
            directories[dir]?.pending.append(.remove(name))
        case .mark:
            break
        }
    }

    private mutating func setName(_ path: String, _ entry: Entry) {
        let (dir, name) = PowerLossState.split(path)
        directories[dir]?.current[name] = entry
        directories[dir]?.pending.append(.set(name, entry))
    }

    /// Number of unsynced operations in the state (files and directories).
    var unsyncedOperations: Int {
        inodes.values.reduce(0) { $0 + $1.pending.count } + directories.values.reduce(0) { $0 + $1.pending.count }
    }

    /// Writes the crash state into `target` (an empty directory standing for `root`).
    /// Returns the number of files written.
    @discardableResult
    func materialize(into target: String, keeping survival: UnsyncedSurvival) throws -> Int {
        var rng = SeededRandom(seed: { if case .random(let s) = survival { return s } else { return 0 } }())
        func keep(_ count: Int) -> Int {
            switch survival {
            case .none: 0
            case .all: count
            case .random: count == 0 ? 0 : Int.random(in: 0...count, using: &rng)
            }
        }
        var files = 0
        func build(_ path: String, into out: String) throws {
            guard let dir = directories[path] else { return }
            var entries = dir.durable
            for op in dir.pending.prefix(keep(dir.pending.count)) {
                switch op {
                case .set(let name, let e): entries[name] = e
                case .remove(let name): entries[name] = nil
                }
            }
            for (name, entry) in entries.sorted(by: { $0.key < $1.key }) {
                switch entry {
                case .directory:
                    try FileManager.default.createDirectory(atPath: out + "/" + name, withIntermediateDirectories: false)
                    try build(path + "/" + name, into: out + "/" + name)
                case .file(let id):
                    let inode = inodes[id]!
                    let kept = keep(inode.pending.count)
                    var content = inode.pending.prefix(kept).reduce(inode.durable, PowerLossState.applied)
                    if case .random = survival, kept < inode.pending.count, case .write(let offset, let bytes) = inode.pending[kept],
                       Bool.random(using: &rng) {
                        // A torn write: only its first part reached the disk.
                        let part = Int.random(in: 0..<bytes.count, using: &rng)
                        content = PowerLossState.applied(content, .write(offset, Array(bytes.prefix(part))))
                    }
                    writeFile(out + "/" + name, content)
                    files += 1
                }
            }
        }
        try build(root, into: target)
        return files
    }
}
