import CaskTestSupport
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import CaskBench
import CaskStore

/// The benchmark tooling itself: statistics, output formats, the result pipe, the chart.
@Suite("Benchmark tooling")
struct BenchTests {
    // MARK: Percentiles

    /// Indexes the peer takes, `max(0, int(len(xs) * p) - 1)`, computed by Python for p = .5, .9, .99.
    static let peerIndexes: [(count: Int, indexes: [Int])] = [
        (1, [0, 0, 0]), (2, [0, 0, 0]), (3, [0, 1, 1]), (7, [2, 5, 5]), (10, [4, 8, 8]),
        (99, [48, 88, 97]), (100, [49, 89, 98]), (101, [49, 89, 98]), (1000, [499, 899, 989]),
        (12345, [6171, 11109, 12220]),
    ]

    @Test(arguments: peerIndexes.map(\.count))
    func percentilesAreThePeersIndexes(count: Int) {
        let expected = Self.peerIndexes.first { $0.count == count }!.indexes
        // Sample i is (i + 1) µs, shuffled so that sorting matters.
        var rng = SeededRandom(seed: UInt64(count))
        let nanos = (0..<count).map { UInt32(($0 + 1) * 1000) }.shuffled(using: &rng)
        let s = LatencySummary(nanos: nanos, misses: 3)
        #expect(s.count == count)
        #expect(s.misses == 3)
        #expect(s.medianMicros == Double(expected[0] + 1))
        #expect(s.p90Micros == Double(expected[1] + 1))
        #expect(s.p99Micros == Double(expected[2] + 1))
        #expect(s.maxMicros == Double(count))
    }

    @Test func noSamplesSummarizeAsZero() {
        let s = LatencySummary(nanos: [], misses: 0)
        #expect(s.count == 0 && s.medianMicros == 0 && s.p99Micros == 0 && s.maxMicros == 0)
    }

    // MARK: Text lines

    @Test func latencyLineIsThePeersFormat() {
        let s = LatencySummary(nanos: [250, 1_500, 2_004_999, 40], misses: 1)
        // Sorted: 40, 250, 1500, 2004999 ns; p50 -> index 1, p90 -> index 2, p99 -> index 2.
        #expect(s.line("get") == "get     count=4 miss=1 median_us=0.25 p90_us=1.50 p99_us=1.50 max_us=2005.00")
        #expect(s.line("delete") == "delete  count=4 miss=1 median_us=0.25 p90_us=1.50 p99_us=1.50 max_us=2005.00")
        let peerPattern = /^(get|set|delete) +count=\d+ miss=\d+ median_us=\d+\.\d\d p90_us=\d+\.\d\d p99_us=\d+\.\d\d max_us=\d+\.\d\d$/
        #expect(s.line("set").wholeMatch(of: peerPattern) != nil)
    }

    @Test func throughputLineIsThePeersFormat() {
        #expect(throughputLine(operations: 100_000, wallSeconds: 0.0875).text == "wall_s=0.088 ops_per_s=1142857")
        #expect(throughputLine(operations: 10, wallSeconds: 0).text == "wall_s=0.000 ops_per_s=0")
    }

    @Test func decimalsMatchTheTwoDigitFormatter() {
        var rng = SeededRandom(seed: 7)
        for _ in 0..<2_000 {
            let x = Double(rng.next() % 100_000_000) / 1000
            #expect(fixed(x, digits: 2) == fixed2(x), "\(x)")
        }
        #expect(fixed(0.005, digits: 2) == "0.01")
        #expect(fixed(12.3456, digits: 1) == "12.3")
        #expect(fixed(3, digits: 0) == "3")
    }

    @Test func reportTextStartsWithAHeader() {
        var report = BenchReport(workload: "core", parameters: [BenchField("procs", .int(1)), BenchField("sync", .text("never"))])
        report.lines = [LatencySummary(nanos: [1000], misses: 0).benchLine("get"), throughputLine(operations: 1, wallSeconds: 1)]
        #expect(report.text == """
            cask core procs=1 sync=never
            get     count=1 miss=0 median_us=1.00 p90_us=1.00 p99_us=1.00 max_us=1.00
            wall_s=1.000 ops_per_s=1
            """)
    }

    // MARK: JSON

    @Test func jsonHasTheSameFiguresAsTheText() throws {
        var report = BenchReport(workload: "read-only", parameters: [BenchField("keys", .int(1_000_000)), BenchField("sync", .text("never"))])
        let summary = LatencySummary(nanos: [310, 320, 450, 9_000], misses: 2)
        report.lines = [summary.benchLine("get"), throughputLine(operations: 4, wallSeconds: 0.5)]
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any])
        #expect(object["workload"] as? String == "read-only")
        let parameters = try #require(object["parameters"] as? [String: Any])
        #expect(parameters["keys"] as? Int == 1_000_000)
        #expect(parameters["sync"] as? String == "never")
        let results = try #require(object["results"] as? [[String: Any]])
        #expect(results.count == 2)
        #expect(results[0]["name"] as? String == "get")
        #expect(results[0]["count"] as? Int == 4)
        #expect(results[0]["miss"] as? Int == 2)
        #expect(results[0]["median_us"] as? Double == 0.32)
        #expect(results[0]["p99_us"] as? Double == 0.45)
        #expect(results[0]["max_us"] as? Double == 9.0)
        #expect(results[1]["wall_s"] as? Double == 0.5)
        #expect(results[1]["ops_per_s"] as? Int == 8)
    }

    @Test func jsonStringsAreEscaped() throws {
        let report = BenchReport(workload: "a\"b\\c\nd\u{1}é", parameters: [BenchField("x", .decimal(.nan, digits: 2))])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any])
        #expect(object["workload"] as? String == "a\"b\\c\nd\u{1}é")
        let parameters = try #require(object["parameters"] as? [String: Any])
        #expect(parameters["x"] is NSNull)
    }

    // MARK: Worker results

    @Test func workerResultRoundTrips() throws {
        var r = WorkerResult()
        var rng = SeededRandom(seed: 11)
        for k in 0..<3 {
            r.nanos[k] = (0..<(100 * (3 - k))).map { _ in UInt32(truncatingIfNeeded: rng.next()) }
            r.misses[k] = k * 7
        }
        r.finishedAt = 0x0123_4567_89AB_CDEF
        let decoded = try #require(WorkerResult.decode(r.encoded()))
        #expect(decoded.nanos == r.nanos)
        #expect(decoded.misses == r.misses)
        #expect(decoded.finishedAt == r.finishedAt)
        var merged = WorkerResult()
        merged.finishedAt = 5
        merged.merge(decoded)
        #expect(merged.finishedAt == r.finishedAt, "a merge keeps the latest finish")
        let empty = try #require(WorkerResult.decode(WorkerResult().encoded()))
        #expect(empty.nanos == [[], [], []] && empty.misses == [0, 0, 0])
    }

    @Test func malformedWorkerResultsAreRejected() {
        var r = WorkerResult()
        r.nanos = [[1, 2, 3], [4], []]
        let good = r.encoded()
        #expect(WorkerResult.decode([]) == nil)
        #expect(WorkerResult.decode(Array(good.prefix(31))) == nil)
        #expect(WorkerResult.decode(Array(good.dropLast())) == nil)
        #expect(WorkerResult.decode(good + [0]) == nil)
        #expect(WorkerResult.decode(good + [0, 0, 0, 0]) == nil)
        // A count far beyond the bytes present (as a truncated or garbled pipe would give).
        var huge = good
        huge.replaceSubrange(8..<12, with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(WorkerResult.decode(huge) == nil)
        #expect(WorkerResult.decode(Array("ready\n".utf8)) == nil)
    }

    // MARK: Chart

    static func chart(_ title: String = "cask core <procs=1> & more") -> LatencyChart {
        LatencyChart(title: title, series: [
            ("get", LatencySummary(nanos: [290, 300, 350, 1_600, 56_000], misses: 0)),
            ("set", LatencySummary(nanos: [2_200, 3_700, 19_000, 59_000], misses: 0)),
            ("delete", LatencySummary(nanos: [2_400, 3_000, 46_000], misses: 1)),
        ])
    }

    @Test func chartIsWellFormedXML() throws {
        let svg = Self.chart().svg()
        let checker = SVGChecker()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = checker
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        #expect(checker.root == "svg")
        #expect(checker.depth == 0)
        // 3 bars per operation kind (each with a tooltip), plus the background and 3 legend swatches.
        #expect(checker.titled == 9)
        #expect(checker.elements["rect"] == 9 + 1 + 3)
        #expect(checker.text.contains("cask core <procs=1> & more"))
        for label in ["get", "set", "delete", "p50", "p90", "p99", "latency (µs)", "max 56 µs", "bars from zero"] {
            #expect(checker.text.contains(label), "\(label)")
        }
    }

    @Test func chartOfNothingOrZerosIsStillWellFormed() {
        for chart in [LatencyChart(title: "empty", series: []),
                      LatencyChart(title: "zeros", series: [("get", LatencySummary(nanos: [0, 0], misses: 0))]),
                      LatencyChart(title: "slow", series: [("set", LatencySummary(nanos: [4_000_000_000], misses: 0))])] {
            let parser = XMLParser(data: Data(chart.svg().utf8))
            #expect(parser.parse(), "\(chart.title)")
        }
    }

    @Test func tickStepsAreOneTwoOrFiveTimesAPowerOfTen() {
        #expect(niceStep(above: 0.3) == 0.5)
        #expect(niceStep(above: 1) == 1)
        #expect(niceStep(above: 11.8) == 20)
        #expect(niceStep(above: 4100) == 5000)
    }

    // MARK: Workloads (small)

    @Test func readOnlyWorkloadFindsEveryKey() throws {
        for api in BenchAPI.allCases {
            let dir = TemporaryDirectory()
            let target = try api.open(directory: dir.path, options: .testing())
            var w = ReadOnlyWorkload()
            w.keys = 500
            w.ops = 10_000
            w.warmup = 100
            let meter = ProgressMeter(label: "test", total: w.ops, enabled: false)
            try w.preload(target)
            let r = try w.run(target, seed: 1, progress: meter)
            #expect(r.nanos[OperationKind.get.rawValue].count == 9_900)
            #expect(r.misses == [0, 0, 0], "\(api)")
            #expect(meter.completed == 8_192, "progress advances in steps of 4096 operations")
            try target.close()
            #expect(try Store(directory: dir.path, options: .testing()).count == 500)
        }
    }

    /// The core workload's values are the peers': the decimal digits of the operation's count,
    /// repeated 1...99 times (the repeat count drawn after the key), whatever their width.
    @Test func coreWorkloadSetsThePeersValues() throws {
        final class Recorder: BenchTarget, @unchecked Sendable {
            var sets: [(key: [UInt8], value: [UInt8])] = []
            func get(_ key: [UInt8]) throws -> [UInt8]? { nil }
            func set(_ key: [UInt8], _ value: [UInt8]) throws { sets.append((key, value)) }
            func delete(_ key: [UInt8]) throws -> Bool { false }
            func close() throws {}
        }
        var w = MixedWorkload.core
        w.ops = 20_000
        w.warmup = 0
        w.getFraction = 0
        w.setFraction = 1
        let recorder = Recorder()
        _ = try w.run(recorder, seed: 3)
        #expect(recorder.sets.count == w.ops)
        var rng = WorkloadRandom(seed: 3)
        var lengths = Set<Int>()
        for (count, set) in recorder.sets.enumerated() {
            let key = rng.below(w.range)
            let repeats = 1 + rng.below(99)
            _ = rng.unit()
            let expected = Array(String(repeating: String(count), count: repeats).utf8)
            guard set.key == Array(String(key).utf8), set.value == expected else {
                Issue.record("operation \(count): set \(set.key) to \(set.value.count) bytes, expected \(expected.count)")
                break
            }
            lengths.insert(set.value.count)
        }
        #expect(lengths.min()! < 10 && lengths.max()! > 4 * 99, "short values and values of many repeats of five digits")
    }

    @Test func keyBufferSpellsDecimalKeys() {
        var k = KeyBuffer()
        for i in [0, 7, 10, 123_456, 999_999] {
            k.set(i)
            #expect(k.bytes == Array("key-\(i)".utf8))
        }
    }

    @Test func largeValuesWorkloadReportsThePeersFields() throws {
        let dir = TemporaryDirectory()
        let store = try Store(directory: dir.path, options: .testing(segmentSize: 1 << 20))
        var w = LargeValuesWorkload()
        w.totalBytes = 100_000
        let r = try w.run(size: 16 << 10, store: store)
        try store.close()
        #expect(r.count == 7)
        #expect(r.setNanos.count == 7 && r.getNanos.count == 7 && r.readNanos.count == 7)
        let keys = r.benchLine.fields.map(\.key)
        #expect(keys == ["size", "count", "total_MB", "set_MBps", "get_MBps", "read_MBps", "set_median_us", "get_median_us", "read_median_us"])
        #expect(r.benchLine.text.hasPrefix("size=16384 count=7 total_MB=0.1 set_MBps="))
    }

    @Test func medianIsPythonsStatisticsMedian() {
        #expect(medianMicros([3_000, 1_000, 2_000]) == 2)
        #expect(medianMicros([4_000, 1_000, 2_000, 3_000]) == 2.5)
        #expect(medianMicros([]) == 0)
    }

    // MARK: The command

    @Test func commandPrintsDecodableJSONAndAChart() throws {
        let dir = TemporaryDirectory()
        let svg = dir.sub("chart.svg")
        let (status, out) = try runChild(builtExecutable("cask"), ["bench", "--ops", "2000", "--json", "--svg", svg])
        #expect(status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let results = try #require(object["results"] as? [[String: Any]])
        #expect(results.map { $0["name"] as? String } == ["get", "set", "delete", "wall"])
        #expect(XMLParser(data: try Data(contentsOf: URL(fileURLWithPath: svg))).parse())
    }

    @Test func largeValuesCommandRunsInAFreshTemporaryDirectory() throws {
        let (status, out) = try runChild(builtExecutable("cask"), ["bench", "--raw", "--workload", "large-values", "--sizes", "4KiB,64KiB", "--total", "256KiB"])
        #expect(status == 0)
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines.first?.hasPrefix("cask large-values shards=8 sizes=4096,65536 total_bytes_per_size=262144") == true)
        #expect(lines.dropFirst().first?.hasPrefix("size=4096 count=64 total_MB=0.3 set_MBps=") == true)
        #expect(lines.last?.hasPrefix("wall_s=") == true)
    }

    @Test(arguments: [["--workload", "nope"], ["--ops", "0"], ["--ops=-5"], ["--procs", "x"], ["--sizes", "12Q"],
                      ["--svg", "/nonexistent-dir/c.svg"], ["--workload", "open", "--svg", "/tmp/c.svg"], ["--no-such-option"]])
    func badArgumentsExitWithTwo(arguments: [String]) throws {
        let (status, out) = try runChild(builtExecutable("cask"), ["bench"] + arguments)
        #expect(status == 2, "\(arguments)")
        #expect(out.isEmpty)
    }
}

/// Counts elements and collects text while XMLParser walks a document.
final class SVGChecker: NSObject, XMLParserDelegate {
    var root: String?
    var depth = 0
    var elements: [String: Int] = [:]
    var titled = 0
    var text = ""

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if root == nil { root = name }
        depth += 1
        elements[name, default: 0] += 1
        if name == "title" { titled += 1 }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        depth -= 1
        text += "\n"
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
}
