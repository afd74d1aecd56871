import CaskStore

/// Gets of random keys among `keys` preloaded ones (keys `key-<i>`, `valueSize`-byte values):
/// the index lookup and value copy at a realistic index size, with no writer in the way.
public struct ReadOnlyWorkload: TimedWorkload {
    public var keys = 1_000_000
    public var ops = 1_000_000
    public var warmup = 1_000
    public var valueSize = 100

    public init() {}

    /// Puts every key (before the timed run, once).
    public func preload(_ store: any BenchTarget, progress: ProgressMeter? = nil) throws {
        let value = [UInt8](repeating: 0x72, count: valueSize)
        var key = KeyBuffer()
        for i in 0..<keys {
            if i % progressStep == progressStep - 1 { progress?.advance(by: progressStep) }
            key.set(i)
            try store.set(key.bytes, value)
        }
    }

    public func run(_ store: any BenchTarget, seed: UInt64, progress: ProgressMeter? = nil) throws -> WorkerResult {
        var rng = WorkloadRandom(seed: seed)
        var result = WorkerResult()
        result.nanos[OperationKind.get.rawValue].reserveCapacity(max(0, ops - warmup))
        var key = KeyBuffer()
        for count in 0..<ops {
            if count % progressStep == progressStep - 1 { progress?.advance(by: progressStep) }
            key.set(rng.below(keys))
            let t0 = monotonicNow()
            // A get returns a copy of the value, as a caller of `get` receives it.
            let missed = try store.get(key.bytes) == nil
            let t1 = monotonicNow()
            if count >= warmup {
                result.nanos[OperationKind.get.rawValue].append(UInt32(clamping: t1 - t0))
                if missed { result.misses[OperationKind.get.rawValue] += 1 }
            }
        }
        return result
    }
}

/// The bytes of `key-<i>`, rebuilt in place without allocating.
struct KeyBuffer {
    private(set) var bytes: [UInt8] = Array("key-".utf8)

    init() { bytes.reserveCapacity(32) }

    mutating func set(_ i: Int) {
        bytes.removeSubrange(4...)
        let start = bytes.count
        var n = i
        repeat {
            bytes.append(UInt8(48 + n % 10))
            n /= 10
        } while n > 0
        bytes[start...].reverse()
    }
}
