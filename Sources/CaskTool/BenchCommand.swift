import ArgumentParser
import CaskBench
import CaskStore
import Foundation

enum SyncMode: String, ExpressibleByArgument, CaseIterable {
    case never, interval, always
    var durability: Durability {
        switch self {
        case .never: .none
        case .interval: .interval(.milliseconds(100))
        case .always: .always
        }
    }
}

enum BenchWorkload: String, ExpressibleByArgument, CaseIterable {
    case core, writeHeavy = "write-heavy", open, compaction, durable
}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure throughput and latency on a cache directory (diskcache's core workload by default).")

    @Option(help: "Workload: \(BenchWorkload.allCases.map(\.rawValue).joined(separator: ", ")).")
    var workload: BenchWorkload = .core
    @Option(help: "Worker processes (each opens the cache on its own).") var procs = 1
    @Option(help: "Worker threads per process.") var threads = 1
    @Option(help: "Operations per worker.") var ops = 100_000
    @Option(help: "Number of distinct keys (core: 100; write-heavy: 100000).") var range: Int?
    @Option(help: "Shards of a new cache.") var shards = 8
    @Option(help: "Cache directory (default: a fresh temporary directory, removed afterwards).") var dir: String?
    @Option(help: "Durability: never, interval, always.") var sync: SyncMode = .never
    @Option(help: "Keys for the open and compaction workloads.") var keys = 1_000_000
    @Option(name: .customLong("worker"), help: .hidden) var workerIndex: Int?

    func validate() throws {
        guard procs >= 1, procs <= 256 else { throw ValidationError("--procs must be 1...256") }
        guard threads >= 1, threads <= 256 else { throw ValidationError("--threads must be 1...256") }
        guard ops >= 1 else { throw ValidationError("--ops must be positive") }
        guard (range ?? 1) >= 1 else { throw ValidationError("--range must be positive") }
        guard (1...256).contains(shards) else { throw ValidationError("--shards must be 1...256") }
        guard keys >= 1 else { throw ValidationError("--keys must be positive") }
    }

    var storeOptions: StoreOptions {
        var o = StoreOptions()
        o.shardCount = shards
        o.durability = workload == .durable ? .always : sync.durability
        return o
    }

    var mixed: MixedWorkload {
        var w: MixedWorkload = workload == .writeHeavy ? .writeHeavy : .core
        if workload == .durable { w.getFraction = 0; w.setFraction = 1 }
        w.ops = ops
        if let range { w.range = range }
        w.warmup = min(w.warmup, ops / 10)
        return w
    }

    func run() throws {
        if let workerIndex, let dir {
            try runWorker(index: workerIndex, directory: dir)
            return
        }
        let directory = dir ?? makeTemporaryDirectory()
        defer { if dir == nil { try? FileManager.default.removeItem(atPath: directory) } }
        switch workload {
        case .open:
            let r = try runOpenWorkload(directory: directory, keys: keys, options: storeOptions)
            print("open keys=\(r.keys) open_s=\(fixed(r.openSeconds, digits: 3)) first_get_us=\(fixed2(r.firstGetMicros)) "
                  + "index_bytes_per_key=\(fixed(r.bytesPerKey, digits: 1)) scanned_records=\(r.scannedRecords) fill_s=\(fixed(r.fillSeconds, digits: 2))")
        case .compaction:
            let r = try runCompactionWorkload(directory: directory, keys: keys, options: storeOptions)
            print("compaction keys=\(r.keys) compact_s=\(fixed(r.compactSeconds, digits: 3)) longest_pause_us=\(fixed2(r.longestPauseMicros))")
            print(r.readerDuring.line("get"))
        case .core, .writeHeavy, .durable:
            try runMixed(directory: directory)
        }
    }

    func runMixed(directory: String) throws {
        let w = mixed
        do {
            let store = try Store(directory: directory, options: storeOptions)
            try w.preload(store)
            try store.close()
        }
        var total = WorkerResult()
        let start: UInt64
        if procs == 1 {
            let store = try Store(directory: directory, options: storeOptions)
            start = monotonicNow()
            total = try runThreads(store: store, workload: w, firstSeed: 0)
            try store.close()
        } else {
            (start, total) = try runProcesses(directory: directory)
        }
        let wall = Double(monotonicNow() - start) / 1e9
        print("cask \(workload.rawValue) shards=\(shards) procs=\(procs) threads=\(threads) ops=\(ops) sync=\(workload == .durable ? "always" : sync.rawValue)")
        for kind in OperationKind.allCases where !total.nanos[kind.rawValue].isEmpty {
            print(LatencySummary(nanos: total.nanos[kind.rawValue], misses: total.misses[kind.rawValue]).line(kind.name))
        }
        let opsPerSecond = Double(procs * threads * ops) / wall
        print("wall_s=\(fixed(wall, digits: 3)) ops_per_s=\(Int(opsPerSecond.rounded()))")
    }

    func runThreads(store: Store, workload w: MixedWorkload, firstSeed: Int) throws -> WorkerResult {
        if threads == 1 { return try w.run(store, seed: UInt64(firstSeed)) }
        let results = LockedResults()
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            do { results.add(try w.run(store, seed: UInt64(firstSeed + t))) } catch { results.fail(error) }
        }
        return try results.total()
    }

    /// Spawns `procs` copies of this executable as workers, starts them together, merges results.
    func runProcesses(directory: String) throws -> (UInt64, WorkerResult) {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var children: [(Process, Pipe, Pipe)] = []
        for i in 0..<procs {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            var args = ["bench", "--worker", String(i), "--dir", directory, "--workload", workload.rawValue,
                        "--ops", String(ops), "--threads", String(threads), "--shards", String(shards), "--sync", sync.rawValue]
            if let range { args += ["--range", String(range)] }
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
        let store = try Store(directory: directory, options: storeOptions)
        FileHandle.standardOutput.write(Data("ready\n".utf8))
        _ = try FileHandle.standardInput.read(upToCount: 1)
        let r = try runThreads(store: store, workload: mixed, firstSeed: index * threads)
        try store.close()
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
