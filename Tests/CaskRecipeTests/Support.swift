import Foundation
import Synchronization
import CaskStore
@testable import Cask

final class TempDir: @unchecked Sendable {
    // @unchecked: immutable after init.
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.path + "/cask-recipe-test-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A cache on a fresh directory with a frozen clock; keeps the directory alive while it lives.
final class Fixture: @unchecked Sendable {
    // @unchecked: immutable after init.
    let cache: Cache
    let clock: ManualClock
    let dir: TempDir
    init(cache: Cache, clock: ManualClock, dir: TempDir) {
        self.cache = cache
        self.clock = clock
        self.dir = dir
    }
}

/// A cache on a fresh directory with a frozen clock (2026-01-01 09:00 UTC).
func makeCache(_ settings: CacheSettings = CacheSettings(), dir: TempDir = TempDir()) throws -> Fixture {
    let clock = ManualClock(now: 1_767_258_000)
    var s = settings
    if s.shards == nil { s.shards = 2 }
    return Fixture(cache: try Cache(directory: dir.path, settings: s, clock: clock), clock: clock, dir: dir)
}

/// Counts how many times a memoized body really ran.
final class Counter: Sendable {
    private let n = Locked(0)
    @discardableResult func bump() -> Int { n.withLock { $0 += 1; return $0 } }
    var value: Int { n.withLock { $0 } }
}

func builtExecutable(_ name: String) -> String {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
    return dir.appendingPathComponent(name).path
}

/// A running child process of the recipe worker, with its stdout.
struct Child {
    let process: Process
    let out: Pipe

    static func spawn(_ args: [String]) throws -> Child {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: builtExecutable("cask-recipe-worker"))
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        return Child(process: p, out: out)
    }

    /// Waits for the child; returns its exit status and stdout lines.
    func finish() -> (Int32, [String]) {
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text.split(separator: "\n").map(String.init))
    }
}

struct Report: Codable, Equatable, Sendable {
    var id: Int
    var title: String
}
