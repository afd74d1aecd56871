import CaskTestSupport
import Foundation
import Testing
@testable import Cask

/// Async paths must not park the cooperative pool's threads in blocking system calls: while
/// another descriptor holds every shard's write lock, async memoized calls and async streaming
/// sets wait off the pool, and an unrelated 10 ms task sleep still ends on time. Measured in a
/// child process (`async-blocked`), whose task pool nothing else uses.
@Suite("Async paths do not block the cooperative pool")
struct AsyncBlockingTests {
    @Test(arguments: ["memo", "stream"])
    func unrelatedSleepEndsOnTime(path: String) throws {
        let dir = TempDir()
        _ = try Cache(directory: dir.path, settings: CacheSettings(shards: 2))
        let (status, lines) = try Child.spawn(["async-blocked", dir.path, path]).finish()
        #expect(status == 0, "\(lines)")
        let slept = lines.compactMap { $0.hasPrefix("slept ") ? Double($0.dropFirst(6)) : nil }.first
        #expect(slept != nil && slept! < 1, "a 10 ms sleep took \(slept ?? -1) s while the calls waited for the locks")
        #expect(lines.last == "stored 8", "\(lines)")
    }
}
