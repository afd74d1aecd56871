// Per-call overhead of a memoized function, measured as Benchmarks/peers/memoize_overhead.py
// measures diskcache's memoize and joblib's Memory:
// f(x: Int) -> [x, x*x, x+1], a fresh temporary cache with default settings, W warmup arguments
// (missed then hit, not recorded), N timed misses with new arguments, then N timed hits in a
// shuffled order. Every latency is the whole call as the caller sees it: key building, the lookup,
// validity checks, decoding (and on a miss, running f and storing the result).
//
//   cask-memo-bench [--n 10000] [--warmup 100] [--profile-hits R]
//
// --profile-hits R: after the timed phases, call the hits R times more, untimed — a loop to point
// a profiler at (`perf record … cask-memo-bench --profile-hits 100`).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Cask
import CaskBench
import Synchronization
import CaskStore

func option(_ name: String, _ fallback: Int) -> Int {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) else { return fallback }
    return v
}

func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// A deterministic shuffle (SplitMix64), so runs are comparable.
func shuffled(_ n: Int, seed: UInt64) -> [Int] {
    var state = seed
    func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    var order = Array(0..<n)
    for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, Int(next() % UInt64(i + 1))) }
    return order
}

let n = option("--n", 10_000)
let warmup = option("--warmup", 100)
let profileHits = option("--profile-hits", 0)
let calls = Locked(0)

func run(_ label: String, validity: [ValidityPolicy] = [], stampede: StampedeProtection = StampedeProtection()) throws {
    let cache = try Cache()
    defer { try? cache.close() }
    let f = cache.memoize(name: "payload", validity: validity, stampede: stampede) { (x: Int) -> [Int] in
        calls.withLock { $0 += 1 }
        return [x, x * x, x + 1]
    }
    for x in 1...warmup { _ = try f(-x) }
    for x in 1...warmup { _ = try f(-x) }
    func timed(_ args: [Int]) throws -> [UInt32] {
        var lat: [UInt32] = []
        lat.reserveCapacity(args.count)
        for x in args {
            let t = monotonicNanos()
            let r = try f(x)
            let dt = monotonicNanos() - t
            lat.append(UInt32(min(dt, UInt64(UInt32.max))))
            guard r == [x, x * x, x + 1] else { fatalError("wrong result for \(x): \(r)") }
        }
        return lat
    }
    calls.withLock { $0 = 0 }
    let miss = try timed(Array(0..<n))
    if calls.withLock({ $0 }) != n { print("# WARNING \(label): miss phase ran the function \(calls.withLock { $0 }) times") }
    print(LatencySummary(nanos: miss, misses: 0).line("\(label).miss"))
    calls.withLock { $0 = 0 }
    let hit = try timed(shuffled(n, seed: 1))
    if calls.withLock({ $0 }) != 0 { print("# WARNING \(label): hit phase ran the function \(calls.withLock { $0 }) times") }
    print(LatencySummary(nanos: hit, misses: 0).line("\(label).hit"))
    for _ in 0..<profileHits { for x in 0..<n { _ = try f(x) } }
}

print("cask memoize n=\(n) warmup=\(warmup)")
try run("cask.Cache.memoize")
try run("cask.Cache.memoize+ttl", validity: [.expires(after: .seconds(3600))])
try run("cask.Cache.memoize+xprocess-lock", stampede: StampedeProtection(crossProcessLock: true))
