import ArgumentParser
import Cask
import CaskBench
import Foundation
#if canImport(CaskRemote)
import CaskRemote
#endif

/// `cask bench --workload shared --shared URL`: what a shared tier costs and saves, measured on
/// one thread against the server the URL names, and `redis-benchmark` on the same server in the
/// same run (one client, no pipelining, the same value size).
extension BenchCommand {
    /// Keys of the shared workload (each is a shared hit once per fresh directory).
    var sharedKeys: Int { range ?? 10_000 }

    static let sharedValueSize = 100

    func validateShared() throws {
        guard workload == .shared else {
            if shared != nil { throw ValidationError("--shared goes with --workload shared") }
            return
        }
        guard let shared else { throw ValidationError("--workload shared needs --shared redis://host:port (or redis-cluster://…)") }
        guard SharedTierURL.isOne(shared) else {
            throw ValidationError("--shared: expected \(SharedTierURL.expected)")
        }
        guard procs == 1, threads == 1, !compare else { throw ValidationError("--workload shared runs one thread in one process, without --compare") }
    }

    func runShared(directory: String) throws -> BenchReport {
        #if canImport(CaskRemote)
        let url = shared!
        let n = sharedKeys
        // Keys of their own under a prefix of their own, removed at the end: the server may be in use.
        let stem = "cask-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let tier: any SharedTier
        do {
            if url.hasPrefix("s3://") {
                let s3 = try S3Tier(url: url, environment: ProcessInfo.processInfo.environment, timeout: .seconds(5))
                tier = S3Tier(client: s3.client, prefix: s3.prefix + stem + "/")
            } else {
                tier = try RedisTier(url: url, timeout: .seconds(1), prefix: stem + ":")
            }
        } catch {
            throw ToolFailure(message: "--shared: \(error)", code: ExitCode.usage)
        }
        do { try tier.probe() } catch {
            throw ToolFailure(message: "--shared: \(url) does not answer: \(error)", code: ExitCode.failure)
        }
        defer { _ = try? tier.removeAll() }
        let writer = SharedCache(cache: try Cache(directory: directory + "/writer", persistSettings: false), tier: tier,
                                 breaker: SharedBreakerSettings(failureThreshold: 1_000_000))
        let reader = SharedCache(cache: try Cache(directory: directory + "/reader", persistSettings: false), tier: tier,
                                 breaker: SharedBreakerSettings(failureThreshold: 1_000_000))
        defer {
            try? writer.cache.close()
            try? reader.cache.close()
        }
        let value = [UInt8](repeating: 0x61, count: Self.sharedValueSize)
        let keys = (0..<n).map { "k\($0)" }
        let meter = ProgressMeter(label: "shared", total: 4 * n)
        func timed(_ body: (String) throws -> Bool) rethrows -> LatencySummary {
            var nanos: [UInt32] = []
            nanos.reserveCapacity(n)
            var misses = 0
            for key in keys {
                let t0 = monotonicNow()
                let found = try body(key)
                nanos.append(UInt32(clamping: monotonicNow() - t0))
                if !found { misses += 1 }
                meter.advance(by: 1)
            }
            return LatencySummary(nanos: nanos, misses: misses)
        }
        let set = try timed { try writer.set($0, value); return true }
        let sharedHit = try timed { try reader.get($0) != nil }
        let localHit = try timed { try reader.get($0) != nil }
        let bare = try timed { try reader.cache.get($0) != nil }
        meter.finish()
        let errors = writer.statistics.errors + reader.statistics.errors
        var lines = [set.benchLine("set"), sharedHit.benchLine("shared"), localHit.benchLine("local"), bare.benchLine("bare")]
        var parameters = [BenchField("keys", .int(n)), BenchField("value_bytes", .int(Self.sharedValueSize)),
                          BenchField("tier_errors", .int(errors))]
        switch url.hasPrefix("s3://") ? .failure(.init(message: "the tier is S3")) : RedisBenchmarkRun.run(url: url, requests: n, valueSize: Self.sharedValueSize) {
        case .success(let peer):
            lines += peer.lines
            if let get = peer.getMedianMicros, get > 0 {
                parameters.append(BenchField("shared_vs_redis_get_p50", .decimal(sharedHit.medianMicros / get, digits: 2)))
            }
        case .failure(let reason):
            lines.append(BenchLine("redis-benchmark", style: .label, fields: [BenchField("skipped", .text(reason.message))]))
        }
        return BenchReport(workload: "shared", parameters: parameters, lines: lines)
        #else
        throw ToolFailure(message: "--workload shared: this cask was built without the remote module (CASK_WITHOUT_REMOTE)",
                          code: ExitCode.usage)
        #endif
    }
}

#if canImport(CaskRemote)
/// `redis-benchmark -t set,get` with one client and no pipelining, against the server of a URL.
struct RedisBenchmarkRun {
    var lines: [BenchLine]
    var getMedianMicros: Double?

    struct Skipped: Error { var message: String }

    static func run(url: String, requests: Int, valueSize: Int) -> Result<RedisBenchmarkRun, Skipped> {
        var arguments = ["redis-benchmark", "-t", "set,get", "-n", String(requests), "-c", "1", "-P", "1",
                         "-d", String(valueSize), "-r", String(requests), "--csv"]
        do {
            let tls: RedisTLS?
            if url.hasPrefix("redis-cluster://") || url.hasPrefix("rediss-cluster://") {
                let c = try RedisClusterConfiguration(url: url)
                guard let seed = c.seeds.first else { return .failure(Skipped(message: "no node in the URL")) }
                arguments += ["-h", seed.host, "-p", String(seed.port), "--cluster"]
                if let password = c.password { arguments += ["-a", password] + (c.user.map { ["--user", $0] } ?? []) }
                tls = c.tls
            } else {
                let c = try RedisConfiguration(url: url)
                arguments += ["-h", c.host, "-p", String(c.port), "--dbnum", String(c.database)]
                if let password = c.password { arguments += ["-a", password] + (c.user.map { ["--user", $0] } ?? []) }
                tls = c.tls
            }
            if let tls { arguments += ["--tls"] + (tls.caCertificatePath.map { ["--cacert", $0] } ?? []) }
        } catch {
            return .failure(Skipped(message: "\(error)"))
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return .failure(Skipped(message: "cannot run redis-benchmark: \(error)")) }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            return .failure(Skipped(message: "redis-benchmark exited with \(process.terminationStatus) (is it installed? apt install redis-tools)"))
        }
        return parse(text).map { .success($0) } ?? .failure(Skipped(message: "redis-benchmark printed no SET/GET lines"))
    }

    /// Reads `--csv` output: a header naming the columns, then `"SET","rps",…` rows.
    static func parse(_ text: String) -> RedisBenchmarkRun? {
        let rows = text.split(whereSeparator: \.isNewline).map { line in
            line.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        guard let header = rows.first(where: { $0.first == "test" }),
              let rps = header.firstIndex(of: "rps"), let p50 = header.firstIndex(of: "p50_latency_ms"),
              let p99 = header.firstIndex(of: "p99_latency_ms") else { return nil }
        var run = RedisBenchmarkRun(lines: [], getMedianMicros: nil)
        for row in rows where row.count == header.count && (row[0] == "SET" || row[0] == "GET") {
            guard let r = Double(row[rps]), let median = Double(row[p50]), let tail = Double(row[p99]) else { continue }
            run.lines.append(BenchLine("redis-benchmark " + row[0], style: .label, fields: [
                BenchField("ops_per_s", .int(Int(r))),
                BenchField("median_us", .decimal(median * 1000, digits: 1)),
                BenchField("p99_us", .decimal(tail * 1000, digits: 1)),
            ]))
            if row[0] == "GET" { run.getMedianMicros = median * 1000 }
        }
        return run.lines.isEmpty ? nil : run
    }
}
#endif
