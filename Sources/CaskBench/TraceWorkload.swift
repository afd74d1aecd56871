#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Cask
import CaskStore
import Foundation

/// Hit-ratio workloads: a request trace of dense key ids replayed through the real `Cache` (get,
/// then set on a miss), with values of one fixed size and a size limit that holds exactly
/// `capacity` entries; and the exact reference policies on the same trace.
public enum TraceWorkload {
    /// Bytes of every value the replay stores.
    public static let valueSize = 100

    /// Reads a trace of one key per line (blank lines skipped) and numbers its keys in order of
    /// first appearance.
    public static func load(path: String) throws -> [Int] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CaskError(.io, "cannot read the trace: \(error.localizedDescription)", path: path)
        }
        var ids: [Substring: Int] = [:]
        var trace: [Int] = []
        let text = String(decoding: data, as: UTF8.self)
        for line in text.split(whereSeparator: \.isNewline) {
            let key = line.trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { continue }
            let sub = Substring(key)
            if let id = ids[sub] {
                trace.append(id)
            } else {
                ids[sub] = ids.count
                trace.append(ids.count - 1)
            }
        }
        return trace
    }

    /// `requests` draws from a Zipf distribution with exponent `s` over `keys` keys (seeded, so
    /// every run sees the same trace). With `scanEvery` > 0, after every `scanEvery` draws comes a
    /// burst of `scanLength` keys never requested before (a scan).
    public static func zipf(keys: Int, requests: Int, s: Double, seed: UInt64 = 42,
                            scanEvery: Int = 0, scanLength: Int = 0) -> [Int] {
        precondition(keys >= 1 && requests >= 0)
        var cumulative = [Double](repeating: 0, count: keys)
        var sum = 0.0
        for i in 0..<keys {
            sum += 1 / pow(Double(i + 1), s)
            cumulative[i] = sum
        }
        var random = WorkloadRandom(seed: seed)
        var trace: [Int] = []
        trace.reserveCapacity(requests + (scanEvery > 0 ? requests / scanEvery * scanLength : 0))
        var nextScanKey = keys
        for n in 0..<requests {
            let u = Double(random.next() >> 11) / Double(UInt64(1) << 53) * sum
            var lo = 0, hi = keys - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if cumulative[mid] < u { lo = mid + 1 } else { hi = mid }
            }
            trace.append(lo)
            if scanEvery > 0 && (n + 1) % scanEvery == 0 {
                for _ in 0..<scanLength { trace.append(nextScanKey); nextScanKey += 1 }
            }
        }
        return trace
    }

    /// The capacity (in items) that is `fraction` of the distinct keys of `trace`, at least 1.
    public static func capacity(fraction: Double, of trace: [Int]) -> Int {
        max(1, Int(fraction * Double(Set(trace).count)))
    }

    /// The key the replay stores for id `k`: 8 bytes, so every record has the same length.
    @inline(__always)
    static func key(_ k: Int) -> [UInt8] {
        withUnsafeBytes(of: UInt64(k).bigEndian) { Array($0) }
    }

    /// Replays `trace` through a one-shard `Cache` in `directory` (created; must not hold a cache)
    /// under `policy`, sized to hold exactly `capacity` entries, culling one entry per write.
    public static func replay(trace: [Int], capacity: Int, policy: EvictionPolicy, directory: String,
                              progress: ProgressMeter? = nil) throws -> ReplayResult {
        let value = [UInt8](repeating: 0x5A, count: valueSize)
        // The length of one entry, measured on a cache of its own.
        let recordBytes: Int
        do {
            let probe = try Cache(directory: directory + "/probe", settings: CacheSettings(shards: 1), persistSettings: false)
            try probe.set(key(0), value)
            recordBytes = try probe.stats().shards[0].liveBytes
            try probe.close()
            try? FileManager.default.removeItem(atPath: directory + "/probe")
        }
        let settings = CacheSettings(shards: 1, sizeLimit: capacity * recordBytes, cullLimit: 1, evictionPolicy: policy)
        let cache = try Cache(directory: directory + "/cache", settings: settings, persistSettings: false)
        defer { try? cache.close() }
        var hits = 0
        var maxEntries = 0
        for (n, k) in trace.enumerated() {
            let key = key(k)
            if try cache.get(key) != nil {
                hits += 1
            } else {
                try cache.set(key, value)
                maxEntries = max(maxEntries, try cache.count)
            }
            if n & 4095 == 0 { progress?.advance(by: min(4096, trace.count - n)) }
        }
        try cache.close()
        try? FileManager.default.removeItem(atPath: directory + "/cache")
        return ReplayResult(hits: hits, maxEntries: maxEntries)
    }

    /// What a replay through the `Cache` saw.
    public struct ReplayResult: Sendable {
        public var hits: Int
        /// The most entries the cache held after a write (at most the capacity when the size
        /// limit is enforced exactly).
        public var maxEntries: Int
    }

    /// One output line: `policy=… capacity=… requests=… hits=… hit_ratio=…`.
    /// `max_entries` (replays through the `Cache` only): the most entries it held.
    public static func line(policy: String, capacity: Int, requests: Int, hits: Int, maxEntries: Int? = nil) -> BenchLine {
        var fields = [
            BenchField("policy", .text(policy)), BenchField("capacity", .int(capacity)),
            BenchField("requests", .int(requests)), BenchField("hits", .int(hits)),
            BenchField("hit_ratio", .decimal(requests == 0 ? 0 : Double(hits) / Double(requests), digits: 4)),
        ]
        if let maxEntries { fields.append(BenchField("max_entries", .int(maxEntries))) }
        return BenchLine("trace", style: .hidden, fields: fields)
    }
}
