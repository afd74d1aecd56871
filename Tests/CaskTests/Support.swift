import Foundation
@testable import Cask

final class TempDir: @unchecked Sendable {
    // @unchecked: immutable after init.
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.path + "/cask-cache-test-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
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

func builtExecutable(_ name: String) -> String {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
    return dir.appendingPathComponent(name).path
}

struct Report: Codable, Equatable, Sendable {
    var id: Int
    var title: String
    var scores: [Double]
}
