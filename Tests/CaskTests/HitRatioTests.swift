import CaskBench
import CaskTestSupport
import Foundation
import Testing
@testable import Cask

/// Hit ratios of the engine's policies, replayed through the real `Cache`, against exact
/// reference policies computed on the same trace in the same run (targets with a small margin for
/// the approximations' variance). The replays of the whole real trace take minutes in a debug
/// build: they run with CASK_TRACE_HIT_RATIOS=1; `.ci/hit-ratios` checks the same targets on the
/// release build's `cask bench`.
@Suite("Hit ratios")
struct HitRatioTests {
    /// The public block trace (libCacheSim's cloudphysics sample), one key per line.
    static let trace: [Int] = {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/cloudphysics_io.txt").path
        return (try? TraceWorkload.load(path: path)) ?? []
    }()

    static func ratio(_ hits: Int, _ trace: [Int]) -> Double { Double(hits) / Double(trace.count) }

    static func replay(_ trace: [Int], capacity: Int, _ policy: EvictionPolicy) throws -> TraceWorkload.ReplayResult {
        let dir = TemporaryDirectory()
        let r = try TraceWorkload.replay(trace: trace, capacity: capacity, policy: policy, directory: dir.path)
        #expect(r.maxEntries <= capacity, "the size limit holds \(capacity) entries, not \(r.maxEntries)")
        return r
    }

    @Test func theTraceIsThere() {
        #expect(Self.trace.count == 113_872)
        #expect(Set(Self.trace).count == 48_974)
    }

    static let wholeTrace = ProcessInfo.processInfo.environment["CASK_TRACE_HIT_RATIOS"] == "1"

    /// Scan-resistant within 0.5 point of exact S3-FIFO (margin 0.1) at 1%, 5% and 10%.
    @Test(.enabled(if: wholeTrace), arguments: [0.01, 0.05, 0.10])
    func scanResistantKeepsUpWithS3FIFOOnTheRealTrace(fraction: Double) throws {
        let trace = Self.trace
        try #require(!trace.isEmpty)
        let capacity = TraceWorkload.capacity(fraction: fraction, of: trace)
        let reference = Self.ratio(ReferencePolicy.s3fifo.hits(trace: trace, capacity: capacity), trace)
        let ours = Self.ratio(try Self.replay(trace, capacity: capacity, .scanResistant).hits, trace)
        print("trace \(fraction): scan-resistant \(ours), exact S3-FIFO \(reference)")
        #expect(ours >= reference - 0.006)
    }

    /// Least recently used at most 1 point below exact LRU; least frequently used at most 2 below
    /// exact LFU (each with a margin of 0.1).
    @Test(.enabled(if: wholeTrace), arguments: [0.01, 0.05, 0.10])
    func recencyAndFrequencyTrackTheirExactPolicies(fraction: Double) throws {
        let trace = Self.trace
        try #require(!trace.isEmpty)
        let capacity = TraceWorkload.capacity(fraction: fraction, of: trace)
        let lru = Self.ratio(ReferencePolicy.lru.hits(trace: trace, capacity: capacity), trace)
        let lfu = Self.ratio(ReferencePolicy.lfu.hits(trace: trace, capacity: capacity), trace)
        let clock = Self.ratio(try Self.replay(trace, capacity: capacity, .leastRecentlyUsed).hits, trace)
        let counted = Self.ratio(try Self.replay(trace, capacity: capacity, .leastFrequentlyUsed).hits, trace)
        print("trace \(fraction): least-recently-used \(clock) (exact \(lru)), least-frequently-used \(counted) (exact \(lfu))")
        #expect(clock >= lru - 0.011)
        #expect(counted >= lfu - 0.021)
    }

    /// On Zipf (s = 0.99; 5,000 keys, so 5% and 10% are 250 and 500 entries) the scan-resistant policy is within 1 point of exact LFU, and least
    /// frequently used within 2 points of it.
    @Test(arguments: [0.05, 0.10])
    func zipfTargets(fraction: Double) throws {
        let keys = 5_000
        let trace = TraceWorkload.zipf(keys: keys, requests: 40_000, s: 0.99)
        let capacity = Int(fraction * Double(keys))
        let lfu = Self.ratio(ReferencePolicy.lfu.hits(trace: trace, capacity: capacity), trace)
        let ours = Self.ratio(try Self.replay(trace, capacity: capacity, .scanResistant).hits, trace)
        let counted = Self.ratio(try Self.replay(trace, capacity: capacity, .leastFrequentlyUsed).hits, trace)
        print("zipf \(fraction): scan-resistant \(ours), least-frequently-used \(counted), exact LFU \(lfu)")
        #expect(ours >= lfu - 0.011)
        #expect(counted >= lfu - 0.021)
    }

    /// Scans (bursts of keys read once) do not flush the keys that are read again and again.
    @Test func scansDoNotFlushTheHotKeys() throws {
        let trace = TraceWorkload.zipf(keys: 5_000, requests: 40_000, s: 0.99, scanEvery: 2_000, scanLength: 400)
        let capacity = 250
        let ours = Self.ratio(try Self.replay(trace, capacity: capacity, .scanResistant).hits, trace)
        let lru = Self.ratio(ReferencePolicy.lru.hits(trace: trace, capacity: capacity), trace)
        print("zipf with scans: scan-resistant \(ours), exact LRU \(lru)")
        #expect(ours > lru + 0.03)
    }
}
