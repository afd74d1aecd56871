#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CaskStore

/// The operation kinds of the mixed workloads, in output order.
public enum OperationKind: Int, CaseIterable, Sendable {
    case get, set, delete
    public var name: String { ["get", "set", "delete"][rawValue] }
}

/// Per-worker results: latency samples (ns) and misses per operation kind.
public struct WorkerResult: Sendable {
    public var nanos: [[UInt32]] = [[], [], []]
    public var misses = [0, 0, 0]
    /// When the worker had run its operations and closed its store (``monotonicNow()``, which all
    /// processes share; 0: not recorded). Merged results keep the latest.
    public var finishedAt: UInt64 = 0

    public init() {}

    public mutating func merge(_ other: WorkerResult) {
        for k in 0..<3 {
            nanos[k] += other.nanos[k]
            misses[k] += other.misses[k]
        }
        finishedAt = max(finishedAt, other.finishedAt)
    }

    /// Binary form for passing results from a worker process: the finish time (little-endian
    /// u64), then counts, misses, samples (little-endian u32).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        withUnsafeBytes(of: finishedAt.littleEndian) { out.append(contentsOf: $0) }
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        for k in 0..<3 { u32(UInt32(nanos[k].count)); u32(UInt32(misses[k])) }
        for k in 0..<3 { for n in nanos[k] { u32(n) } }
        return out
    }

    public static func decode(_ bytes: [UInt8]) -> WorkerResult? {
        guard bytes.count >= 32 else { return nil }
        func u32(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
        }
        var r = WorkerResult()
        r.finishedAt = UInt64(u32(0)) | UInt64(u32(4)) << 32
        var counts = [0, 0, 0]
        for k in 0..<3 { counts[k] = Int(u32(8 + k * 8)); r.misses[k] = Int(u32(8 + k * 8 + 4)) }
        guard bytes.count == 32 + 4 * counts.reduce(0, +) else { return nil }
        var p = 32
        for k in 0..<3 {
            r.nanos[k].reserveCapacity(counts[k])
            for _ in 0..<counts[k] { r.nanos[k].append(u32(p)); p += 4 }
        }
        return r
    }
}

/// A small, fast, seedable generator (xorshift64*), one per worker.
public struct WorkloadRandom: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = (seed &+ 1) &* 0x9E37_79B9_7F4A_7C15 | 1 }
    @inline(__always) public mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
    @inline(__always) public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    @inline(__always) public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

@inline(__always) public func monotonicNow() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// A workload of timed operations on one store, run by each worker thread or process: the
/// command preloads once, then runs it in every worker and merges the results.
public protocol TimedWorkload: Sendable {
    /// Operations per worker (the first `warmup` of them are not recorded).
    var ops: Int { get }
    /// Writes what the timed run expects to find (before the run, once).
    func preload(_ store: any BenchTarget, progress: ProgressMeter?) throws
    /// Runs one worker's operations against `store`.
    func run(_ store: any BenchTarget, seed: UInt64, progress: ProgressMeter?) throws -> WorkerResult
}

/// Workers report progress in steps of this many operations.
let progressStep = 4096

/// The mixed workloads. `core` is diskcache's own benchmark: `range` keys (the decimal digits of
/// 0..<range), values `str(count)` repeated 1...99 times, 90% get / 9% set / 1% delete.
/// `writeHeavy` is 50% set / 50% get.
public struct MixedWorkload: TimedWorkload {
    public var ops = 100_000
    public var range = 100
    public var warmup = 1_000
    public var getFraction = 0.90
    public var setFraction = 0.09

    public init() {}

    public static var core: MixedWorkload { MixedWorkload() }
    public static var writeHeavy: MixedWorkload {
        var w = MixedWorkload()
        w.range = 100_000
        w.getFraction = 0.5
        w.setFraction = 0.5
        return w
    }

    /// Sets every key to itself (before the timed run, once).
    public func preload(_ store: any BenchTarget, progress: ProgressMeter? = nil) throws {
        for i in 0..<range {
            if i % progressStep == progressStep - 1 { progress?.advance(by: progressStep) }
            let k = Array(String(i).utf8)
            try store.set(k, k)
        }
    }

    /// Runs one worker's operations against `store`.
    public func run(_ store: any BenchTarget, seed: UInt64, progress: ProgressMeter? = nil) throws -> WorkerResult {
        var rng = WorkloadRandom(seed: seed)
        var result = WorkerResult()
        let expected = max(0, ops - warmup)
        for k in 0..<3 { result.nanos[k].reserveCapacity(k == 0 ? expected : expected / 5) }
        let keys = (0..<range).map { Array(String($0).utf8) }
        // The value is built in place: one resize, then the digits copied in doubling runs
        // (appending them one run at a time cost more than the get being measured).
        let zeros = [UInt8](repeating: 0, count: 20 * 99)
        var value: [UInt8] = []
        value.reserveCapacity(zeros.count)
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        for count in 0..<ops {
            if count % progressStep == progressStep - 1 { progress?.advance(by: progressStep) }
            let key = keys[rng.below(range)]
            // value = decimal digits of `count`, repeated 1...99 times.
            let repeats = 1 + rng.below(99)
            withUnsafeMutableBytes(of: &digits) { d in
                var n = count, width = 0
                repeat { width += 1; n /= 10 } while n > 0
                n = count
                for i in stride(from: width - 1, through: 0, by: -1) { d[i] = UInt8(48 + n % 10); n /= 10 }
                value.removeAll(keepingCapacity: true)
                value.append(contentsOf: zeros[0..<(repeats * width)])
                value.withUnsafeMutableBytes { v in
                    let base = v.baseAddress!
                    base.copyMemory(from: d.baseAddress!, byteCount: width)
                    var filled = width
                    while filled < v.count {
                        let n = min(filled, v.count - filled)
                        (base + filled).copyMemory(from: base, byteCount: n)
                        filled += n
                    }
                }
            }
            let r = rng.unit()
            let kind: OperationKind
            var missed = false
            let t0 = monotonicNow()
            if r < getFraction {
                kind = .get
                // A get returns a copy of the value, as a caller of `get` receives it.
                missed = try store.get(key) == nil
            } else if r < getFraction + setFraction {
                kind = .set
                try store.set(key, value)
            } else {
                kind = .delete
                missed = try !store.delete(key)
            }
            let t1 = monotonicNow()
            if count >= warmup {
                result.nanos[kind.rawValue].append(UInt32(clamping: t1 - t0))
                if missed { result.misses[kind.rawValue] += 1 }
            }
        }
        return result
    }
}
