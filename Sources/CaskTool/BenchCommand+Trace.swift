import ArgumentParser
import CaskBench
import CaskStore
import Foundation

/// One policy the hit-ratio workloads replay: the engine's (through the real `Cache`) or an exact
/// reference computed in memory on the same trace.
enum ReplayedPolicy: Equatable {
    case engine(EvictionPolicy)
    case reference(ReferencePolicy)

    var name: String {
        switch self {
        case .engine(let p): p.rawValue
        case .reference(let r): r.rawValue
        }
    }

    static var all: [ReplayedPolicy] {
        EvictionPolicy.allCases.filter { $0 != .none }.map { .engine($0) } + ReferencePolicy.allCases.map { .reference($0) }
    }

    /// `all`, or comma-separated policy names; nil if a name is unknown.
    static func parse(_ text: String) -> [ReplayedPolicy]? {
        if text == "all" { return all }
        var out: [ReplayedPolicy] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let name = part.trimmingCharacters(in: .whitespaces)
            guard let p = all.first(where: { $0.name == name }) else { return nil }
            out.append(p)
        }
        return out
    }
}

extension BenchCommand {
    func validateHitRatioOptions() throws {
        guard workload == .trace || workload == .zipf else { return }
        if workload == .trace && trace == nil { throw ValidationError("--workload trace needs --trace FILE") }
        if capacity != nil && capacityFraction != nil {
            throw ValidationError("give --capacity or --capacity-fraction, not both")
        }
        if let capacity, capacity < 1 { throw ValidationError("--capacity must be at least 1") }
        if let f = capacityFraction, !(f > 0 && f <= 1) { throw ValidationError("--capacity-fraction must be in (0, 1]") }
        guard ReplayedPolicy.parse(policy) != nil else {
            throw ValidationError("--policy: all, or names among \(ReplayedPolicy.all.map(\.name).joined(separator: ", "))")
        }
        guard zipfS > 0 && zipfS < 10 else { throw ValidationError("--zipf-s must be in (0, 10)") }
        guard scanEvery >= 0 && scanLength >= 0 && scanLength <= Self.maxKeys else {
            throw ValidationError("--scan-every and --scan-length must not be negative")
        }
    }

    /// The `trace` and `zipf` workloads: one line per policy with its hit ratio.
    func runHitRatios(directory: String) throws -> BenchReport {
        let requests: [Int]
        var parameters: [BenchField] = []
        if workload == .trace, let trace {
            requests = try TraceWorkload.load(path: trace)
            parameters.append(BenchField("trace", .text(trace)))
        } else {
            let keys = range ?? 100_000
            requests = TraceWorkload.zipf(keys: keys, requests: operationsPerWorker, s: zipfS,
                                          scanEvery: scanEvery, scanLength: scanLength)
            parameters += [BenchField("keys", .int(keys)), BenchField("s", .decimal(zipfS, digits: 2))]
            if scanEvery > 0 { parameters += [BenchField("scan_every", .int(scanEvery)), BenchField("scan_length", .int(scanLength))] }
        }
        let distinct = Set(requests).count
        // A trace's fraction is of its distinct keys; Zipf's, of its key space (--range).
        let base = workload == .zipf ? (range ?? 100_000) : distinct
        let size = capacity ?? max(1, Int((capacityFraction ?? 0.1) * Double(base)))
        parameters += [BenchField("distinct_keys", .int(distinct)), BenchField("value_bytes", .int(TraceWorkload.valueSize))]
        var report = BenchReport(workload: workload.rawValue, parameters: parameters)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        for p in ReplayedPolicy.parse(policy) ?? [] {
            switch p {
            case .engine(let e):
                let meter = ProgressMeter(label: "\(workload.rawValue) \(e.rawValue)", total: requests.count)
                let r = try TraceWorkload.replay(trace: requests, capacity: size, policy: e,
                                                 directory: directory + "/\(e.rawValue)", progress: meter)
                meter.finish()
                report.lines.append(TraceWorkload.line(policy: p.name, capacity: size, requests: requests.count,
                                                       hits: r.hits, maxEntries: r.maxEntries))
            case .reference(let r):
                report.lines.append(TraceWorkload.line(policy: p.name, capacity: size, requests: requests.count,
                                                       hits: r.hits(trace: requests, capacity: size)))
            }
        }
        return report
    }
}
