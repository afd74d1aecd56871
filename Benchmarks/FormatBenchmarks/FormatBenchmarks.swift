import Benchmark
import CaskStore

// Engine internals, reached through `_Benchmarking`: the record codec, CRC-32, the key hash and
// the in-memory index. Each iteration does `scaledIterations` operations (a thousand) unless the
// name says otherwise.

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration.metrics = [.wallClock, .throughput, .mallocCountTotal]
    Benchmark.defaultConfiguration.scalingFactor = .kilo
    Benchmark.defaultConfiguration.maxDuration = .seconds(2)

    let key = Array("user:1234567".utf8)
    for (name, size) in [("100 B", 100), ("300 B", 300), ("4 KiB", 4096), ("1 MiB", 1 << 20)] {
        let value = [UInt8](repeating: 0x37, count: size)
        let length = _Benchmarking.recordLength(key: key.count, value: size)
        let scaling: BenchmarkScalingFactor = size >= 1 << 20 ? .one : .kilo

        Benchmark("record encode, \(name) value", configuration: .init(scalingFactor: scaling)) { benchmark in
            var out = [UInt8](repeating: 0, count: length)
            benchmark.startMeasurement()
            for i in benchmark.scaledIterations {
                out.withUnsafeMutableBytes { o in
                    key.withUnsafeBytes { k in
                        value.withUnsafeBytes { v in
                            blackHole(_Benchmarking.encodeRecord(into: o, key: k, value: v, sequence: UInt64(i + 1)))
                        }
                    }
                }
            }
        }

        Benchmark("record decode (CRC checked), \(name) value", configuration: .init(scalingFactor: scaling)) { benchmark in
            var record = [UInt8](repeating: 0, count: length)
            record.withUnsafeMutableBytes { o in
                key.withUnsafeBytes { k in
                    value.withUnsafeBytes { v in _ = _Benchmarking.encodeRecord(into: o, key: k, value: v, sequence: 1) }
                }
            }
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                record.withUnsafeBytes { blackHole(_Benchmarking.decodeRecord($0)) }
            }
        }

        Benchmark("crc32, \(name)", configuration: .init(scalingFactor: scaling)) { benchmark in
            for _ in benchmark.scaledIterations {
                value.withUnsafeBytes { blackHole(_Benchmarking.crc32($0)) }
            }
        }
    }

    Benchmark("key hash, 12 B key") { benchmark in
        for _ in benchmark.scaledIterations {
            key.withUnsafeBytes { blackHole(_Benchmarking.keyHash($0)) }
        }
    }

    Benchmark("index insert, 1M keys (per iteration)",
              configuration: .init(scalingFactor: .one, maxDuration: .seconds(3), maxIterations: 20)) { benchmark in
        let hashes = randomHashes(1_000_000, seed: 1)
        benchmark.startMeasurement()
        var index = _Benchmarking.KeyIndex()
        for (i, h) in hashes.enumerated() { index.insert(hash: h, offset: UInt32(truncatingIfNeeded: i)) }
        benchmark.stopMeasurement()
        blackHole(index.count)
    }

    Benchmark("index lookup, 1M-key index") { (benchmark: Benchmark, state: IndexAndKeys) in
        let index = state.index, hashes = state.hashes
        var j = 0
        for _ in benchmark.scaledIterations {
            blackHole(index.lookup(hash: hashes[j]))
            j = j &+ 7919 < hashes.count ? j &+ 7919 : j &+ 7919 - hashes.count
        }
    } setup: {
        let hashes = randomHashes(1_000_000, seed: 2)
        var index = _Benchmarking.KeyIndex(reserving: hashes.count)
        for (i, h) in hashes.enumerated() { index.insert(hash: h, offset: UInt32(i)) }
        return IndexAndKeys(index: index, hashes: hashes)
    }
}

/// Setup state of the lookup benchmark (a tuple is not Sendable-checked as one value).
struct IndexAndKeys: @unchecked Sendable {
    // @unchecked: built once in setup, then only read by the benchmark.
    let index: _Benchmarking.KeyIndex
    let hashes: [UInt64]
}

/// `count` pseudo-random 64-bit hashes (splitmix64).
func randomHashes(_ count: Int, seed: UInt64) -> [UInt64] {
    var state = seed
    return (0..<count).map { _ in
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
