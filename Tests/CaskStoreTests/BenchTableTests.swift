@testable import CaskBench
import CaskTestSupport
import Foundation
import Testing

/// `cask bench`'s default output for people: a table with units and what its rows mean.
@Suite("Bench table")
struct BenchTableTests {
    static func timedReport() -> BenchReport {
        var report = BenchReport(workload: "core", parameters: [BenchField("procs", .int(1)), BenchField("ops", .int(3000))])
        let get = LatencySummary(nanos: (1...2_000).map { UInt32($0 * 7) }, misses: 12)
        let set = LatencySummary(nanos: (1...900).map { UInt32($0 * 31) }, misses: 0)
        report.lines = [get.benchLine("get"), set.benchLine("set"), throughputLine(operations: 1_234_567, wallSeconds: 1)]
        return report
    }

    @Test func timedRunsPrintOneRowPerOperationWithUnits() throws {
        let report = Self.timedReport()
        let lines = report.table.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let heading = try #require(lines.first { $0.hasPrefix("operation") })
        for unit in ["p50 µs", "p90 µs", "p99 µs", "max µs", "count", "misses"] { #expect(heading.contains(unit), "\(heading)") }
        // Each operation row holds the same figures as the raw line, in the heading's column order.
        for line in report.lines where line.latency != nil {
            let row = try #require(lines.first { $0.hasPrefix(line.name + " ") })
            let cells = row.split(separator: " ").map(String.init)
            let s = try #require(line.latency)
            #expect(cells == [line.name, grouped(.int(s.count)), grouped(.int(s.misses)), fixed2(s.medianMicros), fixed2(s.p90Micros),
                              fixed2(s.p99Micros), fixed2(s.maxMicros)])
        }
        #expect(lines.contains("throughput  1,234,567 ops/s  (1.000 s wall time)"))
        // The last line says what the rows mean, in words and units.
        let meaning = try #require(lines.last)
        #expect(meaning.contains("microseconds (µs)") && meaning.contains("operations per second"), "\(meaning)")
        #expect(!report.table.contains("median_us="), "the table is not the raw format")
    }

    @Test func hitRatioLinesGetAPolicyTable() throws {
        var report = BenchReport(workload: "zipf", parameters: [])
        report.lines = [TraceWorkload.line(policy: "exact-lru", capacity: 50, requests: 1000, hits: 400),
                        TraceWorkload.line(policy: "s3-fifo", capacity: 50, requests: 1000, hits: 455)]
        let lines = report.table.split(separator: "\n").map(String.init)
        let heading = try #require(lines.first { $0.hasPrefix("policy") })
        #expect(heading.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
                    == "policy capacity requests hits hit ratio")
        #expect(lines.contains { $0.split(separator: " ") == ["s3-fifo", "50", "1,000", "455", "0.4550"] })
        #expect(lines.last?.contains("hit ratio = hits ÷ requests") == true)
    }

    /// Raw lines (the peers' format) are unchanged under `--raw`; the default is the table.
    @Test func commandPrintsATableByDefaultAndRawLinesOnRequest() throws {
        let cask = builtExecutable("cask")
        let (status, table) = try runChild(cask, ["bench", "--ops", "2000"])
        #expect(status == 0)
        #expect(table.contains("p50 µs") && table.contains(" ops/s"), "\(table)")
        #expect(!table.contains("median_us="))
        let (rawStatus, raw) = try runChild(cask, ["bench", "--ops", "2000", "--raw"])
        #expect(rawStatus == 0)
        let lines = raw.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("cask core api=cache shards=8 procs=1") == true, "\(raw)")
        #expect(lines.dropFirst().dropLast().allSatisfy { $0.range(of: #"^(get|set|delete) +count=\d+ miss=\d+ median_us="#, options: .regularExpression) != nil })
        #expect(lines.last?.hasPrefix("wall_s=") == true)
        #expect(try runChild(cask, ["bench", "--raw", "--json"]).0 == 2)
    }
}
