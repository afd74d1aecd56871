import ArgumentParser
import Cask
import CaskBench
import CaskStore
import Foundation


enum BenchWorkload: String, ExpressibleByArgument, CaseIterable {
    case core, writeHeavy = "write-heavy", readOnly = "read-only", largeValues = "large-values", open, compaction, durable
    /// Hit ratios: a trace file, or Zipf draws, replayed per eviction policy.
    case trace, zipf
    /// A shared tier (`--shared URL`): write-through set, shared hit, local hit, beside redis-benchmark.
    case shared

    /// Workloads whose results are latency lines (what `--svg` charts).
    var hasLatencies: Bool { ![.open, .largeValues, .trace, .zipf].contains(self) }
}

/// Comma-separated byte counts with optional KiB/MiB/GiB suffixes: `64KiB,1MiB,16MiB`.
struct ByteSizes: ExpressibleByArgument {
    var values: [Int]

    init?(argument: String) {
        var values: [Int] = []
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let v = ByteSizes.parse(part.trimmingCharacters(in: .whitespaces)) else { return nil }
            values.append(v)
        }
        self.values = values
    }

    init(_ values: [Int]) { self.values = values }

    /// The one byte count given (`--size-limit 8GiB`).
    var single: Int? { values.count == 1 ? values[0] : nil }

    static func parse(_ s: String) -> Int? {
        let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30)]
        var digits = Substring(s), unit = 1
        for (suffix, size) in units where s.lowercased().hasSuffix(suffix.lowercased()) {
            digits = s.dropLast(suffix.count)
            unit = size
            break
        }
        guard let n = Int(digits), n >= 1 else { return nil }
        let (v, overflow) = n.multipliedReportingOverflow(by: unit)
        return overflow ? nil : v
    }
}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure throughput and latency on a cache directory (diskcache's core workload by default).")

    @Option(help: "Workload: \(BenchWorkload.allCases.map(\.rawValue).joined(separator: ", ")).")
    var workload: BenchWorkload = .core
    @Option(help: "Worker processes (each opens the cache on its own).") var procs = 1
    @Option(help: "Worker threads per process.") var threads = 1
    @Option(help: "Operations per worker (default: read-only 1000000, others 100000).") var ops: Int?
    @Option(help: "Number of distinct keys (core: 100; write-heavy: 100000; zipf: 100000).") var range: Int?
    @Option(help: "Shards of a new cache.") var shards = 8
    @Option(help: """
        Cache directory (default: a fresh temporary directory, removed afterwards). It must be new, empty, \
        or a cache with no entries: bench writes, overwrites and evicts keys, so a directory holding \
        anything else is refused (exit 2).
        """) var dir: String?
    @Option(help: "Durability: never, interval, always.") var sync: SyncChoice = .never
    @Option(help: "API to drive: cache (the typed Cache, default) or store (the bytes-level engine).")
    var api: BenchAPI = .cache
    @Option(help: "Keys for the read-only, open and compaction workloads.") var keys = 1_000_000
    @Option(help: "Value sizes for large-values, comma-separated (e.g. 64KiB,1MiB,16MiB).")
    var sizes = ByteSizes(LargeValuesWorkload.defaultSizes)
    @Option(help: "Bytes written per value size by large-values (e.g. 256MiB).") var total = "256MiB"
    @Flag(help: "Print the results as one JSON object instead of a table.") var json = false
    @Flag(help: "Print the machine-readable lines (`get count=.. median_us=..`, the peer scripts' format) instead of a table.")
    var raw = false
    @Option(help: "Also write a chart of the latency percentiles to this SVG file.") var svg: String?
    @Flag(help: "Also run the peers (LMDB from C, Python diskcache) on the same workload and print how Cask compares.")
    var compare = false
    @Option(help: "--compare: the directory of the peer programs (default: Benchmarks/peers of the source tree built).")
    var peers: String?
    @Option(name: .customLong("worker"), help: .hidden) var workerIndex: Int?
    @Option(help: "trace: the request trace, one key per line.") var trace: String?
    @Option(help: "trace, zipf: cache capacity in entries.") var capacity: Int?
    @Option(help: "trace, zipf: cache capacity as a fraction of the trace's distinct keys, or of zipf's --range (default 0.1).")
    var capacityFraction: Double?
    @Option(help: "trace, zipf: eviction policies and exact references, comma-separated, or all (default). Timed workloads: one eviction policy for the cache under test (default: the cache's own).")
    var policy = "all"
    @Option(help: "zipf: the exponent s.") var zipfS = 0.99
    @Option(help: "zipf: a scan of --scan-length new keys after every this many draws (0: none).") var scanEvery = 0
    @Option(help: "zipf: keys per scan.") var scanLength = 0
    @Option(help: ArgumentHelp("shared: the tier, redis[s]://host[:port] or redis[s]-cluster://host:port[,host:port…].", valueName: "url"))
    var shared: String?

    static let maxOps = 100_000_000
    static let maxKeys = 100_000_000

    func validate() throws {
        guard procs >= 1, procs <= 256 else { throw ValidationError("--procs must be 1...256") }
        guard threads >= 1, threads <= 256 else { throw ValidationError("--threads must be 1...256") }
        guard (1...Self.maxOps).contains(ops ?? 1) else { throw ValidationError("--ops must be 1...\(Self.maxOps)") }
        guard (1...Self.maxKeys).contains(range ?? 1) else { throw ValidationError("--range must be 1...\(Self.maxKeys)") }
        guard (1...256).contains(shards) else { throw ValidationError("--shards must be 1...256") }
        guard (1...Self.maxKeys).contains(keys) else { throw ValidationError("--keys must be 1...\(Self.maxKeys)") }
        guard !sizes.values.isEmpty, sizes.values.allSatisfy({ (1...(1 << 30)).contains($0) }) else {
            throw ValidationError("--sizes must be byte counts of 1 B...1 GiB, like 64KiB,1MiB,16MiB")
        }
        guard let t = ByteSizes.parse(total), t <= 1 << 40 else {
            throw ValidationError("--total must be a byte count up to 1 TiB, like 256MiB (not '\(total)')")
        }
        _ = t
        try validateHitRatioOptions()
        try validateShared()
        if json && raw { throw ValidationError("give --json or --raw, not both") }
        try validateCompare()
        if workload != .trace, workload != .zipf, policy != "all", EvictionPolicy(rawValue: policy) == nil {
            throw ValidationError("--policy for the \(workload.rawValue) workload: one of "
                                  + EvictionPolicy.allCases.map(\.rawValue).joined(separator: ", "))
        }
        if let svg {
            guard workload.hasLatencies else { throw ValidationError("--svg charts latencies; the \(workload.rawValue) workload has none") }
            let parent = URL(fileURLWithPath: svg).deletingLastPathComponent().path
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--svg: the directory \(parent) does not exist")
            }
        }
        if let dir, workerIndex == nil, FileManager.default.fileExists(atPath: dir) {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--dir: \(dir) is not a directory")
            }
        }
    }

    /// The eviction policy `--policy` names for a timed workload; nil keeps the target's default.
    var timedPolicy: EvictionPolicy? {
        guard workload != .trace, workload != .zipf, policy != "all" else { return nil }
        return EvictionPolicy(rawValue: policy)
    }

    var storeOptions: StoreOptions {
        var o = StoreOptions()
        o.shardCount = shards
        o.durability = workload == .durable ? .always : sync.durability
        return o
    }

    var operationsPerWorker: Int { ops ?? ([.readOnly, .zipf].contains(workload) ? 1_000_000 : 100_000) }

    var syncName: String { workload == .durable ? "always" : sync.rawValue }

    /// The workload each worker runs, for the timed workloads.
    var timedWorkload: any TimedWorkload {
        if workload == .readOnly {
            var w = ReadOnlyWorkload()
            w.keys = keys
            w.ops = operationsPerWorker
            w.warmup = min(w.warmup, w.ops / 10)
            return w
        }
        var w: MixedWorkload = workload == .writeHeavy ? .writeHeavy : .core
        if workload == .durable { w.getFraction = 0; w.setFraction = 1 }
        w.ops = operationsPerWorker
        if let range { w.range = range }
        w.warmup = min(w.warmup, w.ops / 10)
        return w
    }

    func run() throws {
        if let workerIndex, let dir {
            try runWorker(index: workerIndex, directory: dir)
            return
        }
        if let dir { try refuseExistingData(dir) }
        let directory = dir ?? makeTemporaryDirectory()
        defer { if dir == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let report: BenchReport
        switch workload {
        case .open:
            let r = try runOpenWorkload(directory: directory, keys: keys, options: storeOptions)
            report = BenchReport(workload: "open", parameters: [BenchField("shards", .int(shards))], lines: [
                BenchLine("open", style: .label, fields: [
                    BenchField("keys", .int(r.keys)),
                    BenchField("open_s", .decimal(r.openSeconds, digits: 3)),
                    BenchField("first_get_us", .decimal(r.firstGetMicros, digits: 2)),
                    BenchField("index_bytes_per_key", .decimal(r.bytesPerKey, digits: 1)),
                    BenchField("scanned_records", .int(r.scannedRecords)),
                    BenchField("fill_s", .decimal(r.fillSeconds, digits: 2)),
                ]),
            ])
        case .compaction:
            let r = try runCompactionWorkload(directory: directory, keys: keys, options: storeOptions)
            report = BenchReport(workload: "compaction", parameters: [BenchField("shards", .int(shards))], lines: [
                BenchLine("compaction", style: .label, fields: [
                    BenchField("keys", .int(r.keys)),
                    BenchField("compact_s", .decimal(r.compactSeconds, digits: 3)),
                    BenchField("longest_pause_us", .decimal(r.longestPauseMicros, digits: 2)),
                ]),
                r.readerDuring.benchLine("get"),
            ])
        case .largeValues:
            report = try runLargeValues(directory: directory)
        case .trace, .zipf:
            report = try runHitRatios(directory: directory)
        case .shared:
            report = try runShared(directory: directory)
        case .core, .writeHeavy, .durable, .readOnly:
            report = try runTimed(directory: directory)
        }
        print(json ? report.json : raw ? report.text : report.table)
        if compare {
            let lines = try comparePeers(with: report)
            print(((raw ? [] : [""]) + lines).joined(separator: "\n"))
        }
        if let svg {
            let chart = LatencyChart(title: report.header, series: report.latencies)
            do {
                try Data(chart.svg().utf8).write(to: URL(fileURLWithPath: svg))
            } catch {
                throw CaskError(.io, "cannot write the chart: \(error.localizedDescription)", path: svg)
            }
        }
    }

    /// Bench never touches data it did not write: `--dir` must be missing, empty, or a cache with
    /// no entries (its internal records included).
    func refuseExistingData(_ dir: String) throws {
        guard FileManager.default.fileExists(atPath: dir) else { return }
        let items = try FileManager.default.contentsOfDirectory(atPath: dir)
        if items.isEmpty { return }
        guard items.contains("cask.meta") else {
            throw ToolFailure(message: "--dir \(dir) is not empty and not a cache; bench needs a new or empty directory",
                              code: ExitCode.usage)
        }
        let cache = try Cache(directory: dir, persistSettings: false)
        let count = try cache.count
        try cache.close()
        guard count == 0 else {
            throw ToolFailure(message: "--dir \(dir) holds \(count) entries; bench writes, overwrites and evicts keys and "
                              + "would lose them: give a new or empty directory (or `cask clear` it first)", code: ExitCode.usage)
        }
    }

    func runTimed(directory: String) throws -> BenchReport {
        let w = timedWorkload
        do {
            let store = try api.open(directory: directory, options: storeOptions, policy: timedPolicy)
            let meter = ProgressMeter(label: "preload", total: workload == .readOnly ? keys : 0)
            try w.preload(store, progress: meter)
            meter.finish()
            try store.close()
        }
        var total = WorkerResult()
        let start: UInt64
        if procs == 1 {
            let store = try api.open(directory: directory, options: storeOptions, policy: timedPolicy)
            let meter = ProgressMeter(label: workload.rawValue, total: threads * w.ops)
            start = monotonicNow()
            total = try runThreads(store: store, workload: w, firstSeed: 0, progress: meter)
            meter.finish()
            try store.close()
        } else {
            let meter = ProgressMeter(label: "\(workload.rawValue): \(procs) worker processes", total: 0)
            (start, total) = try runProcesses(directory: directory)
            meter.finish()
        }
        // Worker processes: until the last one had closed its store (as the C peer's wall runs to
        // its last worker's exit), not until the parent had read and merged every result.
        let end = procs > 1 && total.finishedAt > start ? total.finishedAt : monotonicNow()
        let wall = Double(end - start) / 1e9
        var parameters = [BenchField("api", .text(api.rawValue)), BenchField("shards", .int(shards)), BenchField("procs", .int(procs)),
                          BenchField("threads", .int(threads)), BenchField("ops", .int(w.ops)),
                          BenchField("sync", .text(syncName))]
        if workload == .readOnly { parameters.append(BenchField("keys", .int(keys))) }
        if let timedPolicy { parameters.append(BenchField("policy", .text(timedPolicy.rawValue))) }
        var report = BenchReport(workload: workload.rawValue, parameters: parameters)
        for kind in OperationKind.allCases where !total.nanos[kind.rawValue].isEmpty {
            report.lines.append(LatencySummary(nanos: total.nanos[kind.rawValue], misses: total.misses[kind.rawValue]).benchLine(kind.name))
        }
        report.lines.append(throughputLine(operations: procs * threads * w.ops, wallSeconds: wall))
        return report
    }

    func runLargeValues(directory: String) throws -> BenchReport {
        var w = LargeValuesWorkload()
        w.totalBytes = ByteSizes.parse(total) ?? w.totalBytes
        var report = BenchReport(workload: "large-values", parameters: [
            BenchField("shards", .int(shards)), BenchField("sizes", .text(sizes.values.map(String.init).joined(separator: ","))),
            BenchField("total_bytes_per_size", .int(w.totalBytes)), BenchField("sync", .text(syncName)),
            BenchField("MB", .text("1e6")), BenchField("page_cache", .text("warm")),
        ])
        // One store per size, each in its own subdirectory.
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let start = monotonicNow()
        var operations = 0
        for size in sizes.values {
            let subdirectory = directory + "/size-\(size)"
            let store = try Store(directory: subdirectory, options: storeOptions)
            let meter = ProgressMeter(label: "large-values \(size) B", total: 3 * w.count(forSize: size))
            let r = try w.run(size: size, store: store, progress: meter)
            meter.finish()
            try store.close()
            try? FileManager.default.removeItem(atPath: subdirectory)
            report.lines.append(r.benchLine)
            operations += 3 * r.count
        }
        report.lines.append(throughputLine(operations: operations, wallSeconds: Double(monotonicNow() - start) / 1e9))
        return report
    }

    func runThreads(store: any BenchTarget, workload w: any TimedWorkload, firstSeed: Int, progress: ProgressMeter? = nil) throws -> WorkerResult {
        if threads == 1 { return try w.run(store, seed: UInt64(firstSeed), progress: progress) }
        let results = LockedResults()
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            do { results.add(try w.run(store, seed: UInt64(firstSeed + t), progress: progress)) } catch { results.fail(error) }
        }
        return try results.total()
    }

    /// Spawns `procs` copies of this executable as workers, starts them together, merges results.
    func runProcesses(directory: String) throws -> (UInt64, WorkerResult) {
        #if os(Linux)
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        #else
        guard let exe = Bundle.main.executablePath else { throw ToolFailure(message: "cannot find the path of this executable to start workers", code: ExitCode.failure) }
        #endif
        var children: [(Process, Pipe, Pipe)] = []
        for i in 0..<procs {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            var args = ["bench", "--worker", String(i), "--dir", directory, "--workload", workload.rawValue,
                        "--ops", String(operationsPerWorker), "--threads", String(threads), "--shards", String(shards),
                        "--sync", sync.rawValue, "--keys", String(keys), "--api", api.rawValue]
            if let range { args += ["--range", String(range)] }
            if let timedPolicy { args += ["--policy", timedPolicy.rawValue] }
            p.arguments = args
            let input = Pipe(), output = Pipe()
            p.standardInput = input
            p.standardOutput = output
            try p.run()
            children.append((p, input, output))
        }
        for (_, _, out) in children {
            guard let ready = try out.fileHandleForReading.read(upToCount: 6), ready == Data("ready\n".utf8) else {
                throw CaskError(.io, "a worker process failed to start", path: directory)
            }
        }
        let start = monotonicNow()
        for (_, input, _) in children { try input.fileHandleForWriting.write(contentsOf: Data([1])) }
        var total = WorkerResult()
        for (p, _, out) in children {
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            guard p.terminationStatus == 0, let r = WorkerResult.decode([UInt8](data)) else {
                throw CaskError(.io, "a worker process failed (status \(p.terminationStatus))", path: directory)
            }
            total.merge(r)
        }
        return (start, total)
    }

    func runWorker(index: Int, directory: String) throws {
        let store = try api.open(directory: directory, options: storeOptions, policy: timedPolicy)
        FileHandle.standardOutput.write(Data("ready\n".utf8))
        _ = try FileHandle.standardInput.read(upToCount: 1)
        var r = try runThreads(store: store, workload: timedWorkload, firstSeed: index * threads)
        try store.close()
        r.finishedAt = monotonicNow()
        FileHandle.standardOutput.write(Data(r.encoded()))
    }

    func makeTemporaryDirectory() -> String {
        let path = FileManager.default.temporaryDirectory.path + "/cask-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        return path
    }
}

/// Collects per-thread results.
final class LockedResults: @unchecked Sendable {
    // @unchecked: every access goes through `lock`.
    private let lock = NSLock()
    private var result = WorkerResult()
    private var error: (any Error)?

    func add(_ r: WorkerResult) { lock.withLock { result.merge(r) } }
    func fail(_ e: any Error) { lock.withLock { error = e } }
    func total() throws -> WorkerResult {
        try lock.withLock {
            if let error { throw error }
            return result
        }
    }
}

extension BenchAPI: ExpressibleByArgument {}
