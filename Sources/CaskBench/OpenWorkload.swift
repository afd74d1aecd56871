#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CaskStore
import CCaskSupport
import Synchronization

/// Anonymous resident memory of this process in bytes (heap: what the index costs), from
/// /proc/self/status. File pages mapped from segments are not counted. Linux only: 0 elsewhere.
public func anonymousResidentBytes() -> Int {
    #if os(Linux)
    guard let f = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, f) != nil {
        let s = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        if s.hasPrefix("RssAnon:") {
            let digits = s.filter(\.isNumber)
            return (Int(digits) ?? 0) * 1024
        }
    }
    return 0
    #else
    return 0
    #endif
}

public struct OpenResult: Sendable {
    public var keys: Int
    public var fillSeconds: Double
    public var openSeconds: Double
    public var firstGetMicros: Double
    public var bytesPerKey: Double
    public var scannedRecords: Int
}

/// Fills a store with `keys` entries (keys "key-<i>", 100-byte values), compacts it so hint files
/// exist, closes it, then times a fresh open plus the first get, and the heap growth per key.
public func runOpenWorkload(directory: String, keys: Int, options: StoreOptions) throws -> OpenResult {
    let fillStart = monotonicNow()
    do {
        let store = try Store(directory: directory, options: options)
        let value = [UInt8](repeating: 0x61, count: 100)
        for i in 0..<keys { try store.put(Array("key-\(i)".utf8), value) }
        try store.compact()
        try store.close()
    }
    let fillSeconds = Double(monotonicNow() - fillStart) / 1e9
    cask_malloc_trim()
    let before = anonymousResidentBytes()
    let t0 = monotonicNow()
    let store = try Store(directory: directory, options: options)
    let opened = monotonicNow()
    let probe = Array("key-\(keys / 2)".utf8)
    guard try store.get(probe) != nil else {
        throw CaskError(.notFound, "first get after open found nothing", path: directory)
    }
    let t1 = monotonicNow()
    // Return freed heap (hint buffers read during open) to the system, so what is measured is
    // what the open store keeps.
    cask_malloc_trim()
    let after = anonymousResidentBytes()
    let scanned = store.recoveryReport.scannedRecords
    try store.close()
    return OpenResult(keys: keys, fillSeconds: fillSeconds, openSeconds: Double(t1 - t0) / 1e9,
                      firstGetMicros: Double(t1 - opened) / 1e3,
                      bytesPerKey: Double(after - before) / Double(max(1, keys)), scannedRecords: scanned)
}

public struct CompactionBenchResult: Sendable {
    public var keys: Int
    public var compactSeconds: Double
    public var longestPauseMicros: Double
    public var readerDuring: LatencySummary
}

/// Fills `keys` entries, overwrites each once (half the log dead), then compacts while a reader
/// thread does gets: reports the compaction time, the longest lock hold, and the reader's latencies.
public func runCompactionWorkload(directory: String, keys: Int, options: StoreOptions) throws -> CompactionBenchResult {
    var o = options
    o.automaticCompaction = false
    let store = try Store(directory: directory, options: o)
    let value = [UInt8](repeating: 0x62, count: 100)
    for round in 0..<2 {
        for i in 0..<keys { try store.put(Array("key-\(i)".utf8), value + [UInt8(round)]) }
    }
    let reader = ReaderThread(store: store, keys: keys)
    reader.start()
    let t0 = monotonicNow()
    let results = try store.compact()
    let t1 = monotonicNow()
    let samples = reader.stop()
    try store.close()
    let pause = results.map(\.longestPauseNanos).max() ?? 0
    return CompactionBenchResult(keys: keys, compactSeconds: Double(t1 - t0) / 1e9,
                                 longestPauseMicros: Double(pause) / 1e3,
                                 readerDuring: LatencySummary(nanos: samples, misses: 0))
}

/// A pthread doing random gets until stopped, recording each get's latency.
final class ReaderThread: @unchecked Sendable {
    // @unchecked: `samples` is written only by the reader thread and read after pthread_join;
    // the stop request is an atomic.
    let store: Store
    let keys: Int
    var samples: [UInt32] = []
    private let stopRequested = Atomic<Bool>(false)
    private var thread: pthread_t?

    init(store: Store, keys: Int) {
        self.store = store
        self.keys = keys
    }

    func start() {
        let unmanaged = Unmanaged.passRetained(self)
        var t = pthread_t()
        pthread_create(&t, nil, { arg in
            let me = Unmanaged<ReaderThread>.fromOpaque(arg!).takeRetainedValue()
            me.loop()
            return nil
        }, unmanaged.toOpaque())
        thread = t
    }

    private func loop() {
        var rng = WorkloadRandom(seed: 99)
        let stride = max(1, keys / 100_000)
        let keyBytes = (0..<min(keys, 100_000)).map { Array("key-\($0 * stride)".utf8) }
        while !stopRequested.load(ordering: .relaxed) {
            let k = keyBytes[rng.below(keyBytes.count)]
            let t0 = monotonicNow()
            _ = try? k.withUnsafeBytes { try store.read($0) { $0.value.count } }
            samples.append(UInt32(clamping: monotonicNow() - t0))
        }
    }

    func stop() -> [UInt32] {
        stopRequested.store(true, ordering: .relaxed)
        if let thread { pthread_join(thread, nil) }
        return samples
    }
}
