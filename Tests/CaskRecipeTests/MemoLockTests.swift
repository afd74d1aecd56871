import CaskTestSupport
import Foundation
import Testing
import CaskStore
@testable import Cask

@Suite("Memoize cross-process lock files")
struct MemoLockTests {
    func lockFiles(_ f: Fixture) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: f.dir.path + "/locks").filter { $0.hasPrefix("memo") }
    }

    /// Many distinct calls share a fixed pool of lock files, which survives clear() but does not grow.
    @Test func lockFilesAreBounded() throws {
        let f = try makeCache()
        let g = f.cache.memoize(name: "many", stampede: StampedeProtection(crossProcessLock: true)) { (x: Int) in x + 1 }
        for i in 0..<1_500 { #expect(try g(i) == i + 1) }
        let files = try lockFiles(f)
        #expect(files.count <= MemoLockStripes.count, "\(files.count) lock files for 1,500 calls")
        #expect(files.count > 100, "the calls spread over the stripes")
        let h = f.cache.memoize(name: "other", stampede: StampedeProtection(crossProcessLock: true)) { (x: Int) in x }
        for i in 0..<500 { _ = try h(i) }
        #expect(try lockFiles(f).count <= MemoLockStripes.count, "every function shares the one pool")
    }

    /// A memoized function that calls another whose key falls on the same stripe does not deadlock
    /// (the stripe is re-entrant for the context that holds it), sync and async.
    @Test func nestedCallsOnOneStripeDoNotDeadlock() async throws {
        let f = try makeCache()
        let stampede = StampedeProtection(crossProcessLock: true)
        let inner = f.cache.memoize(name: "inner", stampede: stampede) { (x: Int) in x * 2 }
        let innerAsync = f.cache.memoize(name: "inner-async", stampede: stampede) { (x: Int) async in x * 3 }
        let outerStripe = MemoLockStripes.stripe(try f.cache.memoize(name: "outer", stampede: stampede) { (x: Int) in x }.key(for: 0))
        let y = try #require((1..<100_000).first { MemoLockStripes.stripe(try! inner.key(for: $0)) == outerStripe })
        let outerAsyncStripe = MemoLockStripes.stripe(try f.cache.memoize(name: "outer-async", stampede: stampede) { (x: Int) in x }.key(for: 0))
        let z = try #require((1..<100_000).first { MemoLockStripes.stripe(try! innerAsync.key(for: $0)) == outerAsyncStripe })
        let outer = f.cache.memoize(name: "outer", stampede: stampede) { (_: Int) in try inner(y) }
        let finished = DispatchSemaphore(value: 0)
        let result = Locked<Int?>(nil)
        DispatchQueue.global().async { result.withLock { $0 = try? outer(0) }; finished.signal() }
        #expect(finished.wait(timeout: .now() + 5) == .success, "nested sync call deadlocked on its own stripe")
        #expect(result.withLock { $0 } == y * 2)

        let outerAsync = f.cache.memoize(name: "outer-async", stampede: stampede) { (_: Int) async throws in try await innerAsync(z) }
        let task = Task { try await outerAsync(0) }
        let timeout = Task { try await Task.sleep(for: .seconds(5)); task.cancel() }
        let v = try? await task.value
        timeout.cancel()
        #expect(v == z * 3)
    }
}
