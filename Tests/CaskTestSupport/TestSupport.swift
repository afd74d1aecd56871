// Helpers shared by the test targets: temporary directories, cache fixtures with a frozen clock,
// and locating and running the executables built beside the tests.
import Cask
import Foundation

/// A fresh directory under the system temporary directory, removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    // @unchecked: immutable after init.
    public let path: String

    public init(_ name: String = "cask-test") {
        let base = FileManager.default.temporaryDirectory.path
        path = base + "/\(name)-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        // 0755 whatever the umask: a cache directory writable by group or others is refused.
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o755])
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A path inside the directory.
    public func sub(_ name: String) -> String { path + "/" + name }
}

public typealias TempDir = TemporaryDirectory

/// A cache on a fresh directory with a frozen clock; keeps the directory alive while it lives.
public final class Fixture: @unchecked Sendable {
    // @unchecked: immutable after init.
    public let cache: Cache
    public let clock: ManualClock
    public let dir: TemporaryDirectory

    init(cache: Cache, clock: ManualClock, dir: TemporaryDirectory) {
        self.cache = cache
        self.clock = clock
        self.dir = dir
    }
}

/// A cache on a fresh directory with a frozen clock (2026-01-01 09:00 UTC), 2 shards unless the
/// settings say otherwise.
public func makeCache(_ settings: CacheSettings = CacheSettings(), dir: TemporaryDirectory = TemporaryDirectory()) throws -> Fixture {
    let clock = ManualClock(now: 1_767_258_000)
    var s = settings
    if s.shards == nil { s.shards = 2 }
    return Fixture(cache: try Cache(directory: dir.path, settings: s, clock: clock), clock: clock, dir: dir)
}

/// Path of an executable built next to the test bundle.
public func builtExecutable(_ name: String) -> String {
    #if os(Linux)
    // The test binary is <bin>/<Package>PackageTests.xctest.
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
    #else
    // The tests are a bundle, <bin>/<Package>PackageTests.xctest, loaded by a runner elsewhere.
    let bundle = Bundle.allBundles.first { $0.bundlePath.hasSuffix(".xctest") } ?? Bundle.main
    let dir = bundle.bundleURL.deletingLastPathComponent()
    #endif
    return dir.appendingPathComponent(name).path
}

/// Runs a child process to completion and returns (exit status, stdout).
@discardableResult
public func runChild(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A small deterministic random generator (xorshift64*), so failures can be replayed by seed.
public struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    public mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}
