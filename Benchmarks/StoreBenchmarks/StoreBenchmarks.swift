import Benchmark
import CaskStore
import Foundation

// Store operations through the public API. Each benchmark iteration does `scaledIterations`
// operations (a thousand), so the reported times and malloc counts are per 1,000 operations.

/// A fresh, empty directory under the temporary directory, removed when the process ends.
func scratchDirectory(_ name: String) -> String {
    let path = FileManager.default.temporaryDirectory.path + "/cask-microbench-\(getpid())-\(name)"
    try? FileManager.default.removeItem(atPath: path)
    ScratchDirectories.shared.remember(path)
    return path
}

/// Removes the scratch directories at exit.
final class ScratchDirectories: @unchecked Sendable {
    // @unchecked: `paths` is only touched under `lock`.
    static let shared = ScratchDirectories()
    private let lock = NSLock()
    private var paths: [String] = []

    private init() {
        atexit { ScratchDirectories.shared.removeAll() }
    }

    func remember(_ path: String) { lock.withLock { paths.append(path) } }

    func removeAll() {
        for p in lock.withLock({ paths }) { try? FileManager.default.removeItem(atPath: p) }
    }
}

func openStore(_ directory: String, automaticCompaction: Bool = true) -> Store {
    var options = StoreOptions()
    options.automaticCompaction = automaticCompaction
    do {
        return try Store(directory: directory, options: options)
    } catch {
        fatalError("cannot open a store in \(directory): \(error)")
    }
}

func key(_ i: Int) -> [UInt8] { Array("key-\(i)".utf8) }

/// A store holding `count` keys with values of `valueSize` bytes.
func preloadedStore(_ name: String, count: Int, valueSize: Int) -> Store {
    let store = openStore(scratchDirectory(name))
    let value = [UInt8](repeating: 0x5A, count: valueSize)
    do {
        for i in 0..<count { try store.put(key(i), value) }
    } catch {
        fatalError("preload failed: \(error)")
    }
    return store
}

/// Writes `count` keys (100-byte values) to `directory`, each twice when `overwrite` (so half
/// the log is dead), and closes the store.
func fill(_ directory: String, count: Int, overwrite: Bool, compact: Bool) throws {
    let store = openStore(directory, automaticCompaction: false)
    let value = [UInt8](repeating: 0x61, count: 100)
    for _ in 0..<(overwrite ? 2 : 1) {
        for i in 0..<count { try store.put(key(i), value) }
    }
    if compact { try store.compact() }
    try store.close()
}

let valueSizes: [(name: String, bytes: Int)] = [("16 B", 16), ("256 B", 256), ("4 KiB", 4096), ("64 KiB", 65536)]
let keyCount = 1_000
/// Keys built before measuring, so that malloc counts are the engine's own.
let keys = (0..<2 * keyCount).map(key)

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration.metrics = [.wallClock, .cpuTotal, .throughput, .mallocCountTotal, .peakMemoryResident]
    Benchmark.defaultConfiguration.scalingFactor = .kilo
    Benchmark.defaultConfiguration.maxDuration = .seconds(2)

    for size in valueSizes {
        Benchmark("get hit, \(size.name)") { benchmark, store in
            for i in benchmark.scaledIterations {
                blackHole(try store.get(keys[i % keyCount]))
            }
        } setup: {
            preloadedStore("get-\(size.bytes)", count: keyCount, valueSize: size.bytes)
        }

        Benchmark("read hit (no copy), \(size.name)") { benchmark, store in
            for i in benchmark.scaledIterations {
                let n = try keys[i % keyCount].withUnsafeBytes { k in try store.read(k) { $0.value.count } }
                blackHole(n)
            }
        } setup: {
            preloadedStore("read-\(size.bytes)", count: keyCount, valueSize: size.bytes)
        }

        Benchmark("set (overwrite), \(size.name)") { benchmark, store in
            let value = [UInt8](repeating: 0x42, count: size.bytes)
            benchmark.startMeasurement()
            for i in benchmark.scaledIterations {
                try store.put(keys[i % keyCount], value)
            }
        } setup: {
            preloadedStore("set-\(size.bytes)", count: keyCount, valueSize: size.bytes)
        }
    }

    Benchmark("get miss") { benchmark, store in
        for i in benchmark.scaledIterations {
            blackHole(try store.get(keys[keyCount + i % keyCount]))
        }
    } setup: {
        preloadedStore("miss", count: keyCount, valueSize: 100)
    }

    Benchmark("delete, 256 B") { benchmark, store in
        let value = [UInt8](repeating: 0x43, count: 256)
        for i in benchmark.scaledIterations { try store.put(keys[i % keyCount], value) }
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            blackHole(try store.delete(keys[i % keyCount]))
        }
    } setup: {
        openStore(scratchDirectory("delete"))
    }

    Benchmark("open, 100k keys with hint files",
              configuration: .init(scalingFactor: .one, maxDuration: .seconds(3), maxIterations: 30)) { benchmark, directory in
        for _ in benchmark.scaledIterations {
            let store = openStore(directory)
            blackHole(try store.get(key(50_000)))
            try store.close()
        }
    } setup: {
        let directory = scratchDirectory("open")
        try fill(directory, count: 100_000, overwrite: false, compact: true)
        return directory
    }

    Benchmark("compaction, 100k live keys + 100k dead records",
              configuration: .init(scalingFactor: .one, maxDuration: .seconds(5), maxIterations: 5)) { benchmark in
        for _ in benchmark.scaledIterations {
            let directory = scratchDirectory("compaction")
            try fill(directory, count: 100_000, overwrite: true, compact: false)
            let store = openStore(directory, automaticCompaction: false)
            benchmark.startMeasurement()
            let results = try store.compact()
            benchmark.stopMeasurement()
            blackHole(results)
            try store.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
