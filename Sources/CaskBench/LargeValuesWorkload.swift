#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CaskStore

/// Throughput of large values, defined like the peer's `large_values.py`: for one value size, a
/// fresh store; one random value used for every key; keys `0`, `1`, ... up to `totalBytes`
/// written (rounded up to whole values); `sync()` first (not timed) so that an earlier size's dirty
/// pages do not slow this one; every call timed. MB/s = bytes / sum of call times / 10^6.
/// The page cache is warm for the reads (the values were just written).
public struct LargeValuesWorkload: Sendable {
    public static let defaultSizes = [64 << 10, 1 << 20, 16 << 20]
    public var totalBytes = 256 << 20

    public init() {}

    public func count(forSize size: Int) -> Int { (totalBytes + size - 1) / size }

    /// Puts every key, then `get`s every key (a copy, as a caller receives it; length checked
    /// outside the timing, the first and last compared byte for byte), then `read`s every key
    /// (the record seen in place: CRC check, no copy).
    public func run(size: Int, store: Store, progress: ProgressMeter? = nil) throws -> LargeValuesResult {
        let count = count(forSize: size)
        var rng = WorkloadRandom(seed: UInt64(size))
        var value = [UInt8](repeating: 0, count: size)
        value.withUnsafeMutableBytes { v in
            for i in stride(from: 0, to: size - 7, by: 8) { v.storeBytes(of: rng.next(), toByteOffset: i, as: UInt64.self) }
        }
        let keys = (0..<count).map { Array(String($0).utf8) }
        sync()

        var setNanos: [UInt64] = []
        setNanos.reserveCapacity(count)
        for k in keys {
            let t0 = monotonicNow()
            try store.put(k, value)
            setNanos.append(monotonicNow() - t0)
            progress?.advance(by: 1)
        }

        var getNanos: [UInt64] = []
        getNanos.reserveCapacity(count)
        for (j, k) in keys.enumerated() {
            let t0 = monotonicNow()
            let v = try store.get(k)
            getNanos.append(monotonicNow() - t0)
            guard let v, v.count == size, (j != 0 && j != count - 1) || v == value else {
                throw CaskError(.corrupted, "large-values: wrong value read back for key \(j) of size \(size)", path: store.directory)
            }
            progress?.advance(by: 1)
        }

        var readNanos: [UInt64] = []
        readNanos.reserveCapacity(count)
        for k in keys {
            let t0 = monotonicNow()
            let n = try k.withUnsafeBytes { key in try store.read(key) { $0.value.count } }
            readNanos.append(monotonicNow() - t0)
            guard n == size else {
                throw CaskError(.corrupted, "large-values: wrong value length read for size \(size)", path: store.directory)
            }
            progress?.advance(by: 1)
        }
        return LargeValuesResult(size: size, count: count, setNanos: setNanos, getNanos: getNanos, readNanos: readNanos)
    }
}

public struct LargeValuesResult: Sendable, Equatable {
    public var size: Int
    public var count: Int
    public var setNanos: [UInt64]
    public var getNanos: [UInt64]
    public var readNanos: [UInt64]

    public var totalBytes: Int { size * count }
    public var setMBps: Double { megabytesPerSecond(setNanos) }
    public var getMBps: Double { megabytesPerSecond(getNanos) }
    public var readMBps: Double { megabytesPerSecond(readNanos) }

    func megabytesPerSecond(_ nanos: [UInt64]) -> Double {
        let total = nanos.reduce(0, +)
        return total == 0 ? 0 : Double(totalBytes) / (Double(total) / 1e9) / 1e6
    }

    /// The peer's line (`size=.. count=.. total_MB=.. set_MBps=.. get_MBps=.. set_median_us=..
    /// get_median_us=..`) with `read_MBps` and `read_median_us` added.
    public var benchLine: BenchLine {
        BenchLine("large_values", style: .hidden, fields: [
            BenchField("size", .int(size)),
            BenchField("count", .int(count)),
            BenchField("total_MB", .decimal(Double(totalBytes) / 1e6, digits: 1)),
            BenchField("set_MBps", .decimal(setMBps, digits: 1)),
            BenchField("get_MBps", .decimal(getMBps, digits: 1)),
            BenchField("read_MBps", .decimal(readMBps, digits: 1)),
            BenchField("set_median_us", .decimal(medianMicros(setNanos), digits: 1)),
            BenchField("get_median_us", .decimal(medianMicros(getNanos), digits: 1)),
            BenchField("read_median_us", .decimal(medianMicros(readNanos), digits: 1)),
        ])
    }
}

/// The median as Python's `statistics.median` takes it (mean of the middle two for an even count).
func medianMicros(_ nanos: [UInt64]) -> Double {
    guard !nanos.isEmpty else { return 0 }
    let s = nanos.sorted()
    let mid = s.count / 2
    let m = s.count % 2 == 1 ? Double(s[mid]) : (Double(s[mid - 1]) + Double(s[mid])) / 2
    return m / 1000
}
