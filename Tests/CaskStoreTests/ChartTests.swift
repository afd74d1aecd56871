import CaskTestSupport
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import CaskBench

/// Collects the bars (`rect` elements with a value attribute) of an SVG document.
final class BarCollector: NSObject, XMLParserDelegate {
    struct Bar { var value: Double; var y: Double; var x: Double; var height: Double; var width: Double }
    let valueAttribute: String
    var bars: [Bar] = []

    init(valueAttribute: String) { self.valueAttribute = valueAttribute }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        guard name == "rect", let v = attributes[valueAttribute].flatMap(Double.init) else { return }
        bars.append(Bar(value: v, y: Double(attributes["y"] ?? "") ?? .nan, x: Double(attributes["x"] ?? "") ?? .nan,
                        height: Double(attributes["height"] ?? "") ?? .nan, width: Double(attributes["width"] ?? "") ?? .nan))
    }

    /// Parses `svg` (failing the test if it is not well-formed XML) and returns its bars.
    static func bars(_ svg: String, valueAttribute: String) -> [Bar] {
        let collector = BarCollector(valueAttribute: valueAttribute)
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = collector
        #expect(parser.parse(), "not well-formed: \(parser.parserError.map { "\($0)" } ?? "")")
        return collector.bars
    }
}

@Suite("Charts")
struct ChartTests {
    /// Every bar of `cask bench --svg` stands on the same baseline and its height is its value
    /// times one scale (up to the 0.1-unit rounding of coordinates).
    @Test func latencyBarsStartFromZeroAndScaleWithTheirValues() throws {
        let series: [(name: String, summary: LatencySummary)] = [
            ("get", LatencySummary(nanos: [290, 300, 350, 1_600, 56_000], misses: 0)),
            ("set", LatencySummary(nanos: [2_200, 3_700, 19_000, 59_000, 61_000, 70_000, 81_000, 90_000, 99_000, 120_000], misses: 0)),
        ]
        let bars = BarCollector.bars(LatencyChart(title: "t", series: series).svg(), valueAttribute: "data-us")
        let expected = series.flatMap { [$0.summary.medianMicros, $0.summary.p90Micros, $0.summary.p99Micros] }
        #expect(bars.map(\.value) == expected)
        let baselines = bars.map { $0.y + $0.height }
        #expect(baselines.allSatisfy { abs($0 - baselines[0]) <= 0.11 }, "\(baselines)")
        let tallest = try #require(bars.max { $0.value < $1.value })
        let scale = tallest.height / tallest.value
        for bar in bars {
            #expect(abs(bar.height - bar.value * scale) <= 0.11, "\(bar.value) µs is \(bar.height) high, not \(bar.value * scale)")
        }
    }

    /// `Benchmarks/compare`'s chart: the systems side by side in each panel, bars from zero whose
    /// widths are proportional to their values within a panel (no cut bars).
    @Test func compareChartBarsAreProportionalToTheirValues() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        // Made-up runs in the bench format, with a peer far slower than the others (once cut short).
        let systems = [("cask-cache", 1_300_000, 0.3), ("cask-store", 1_500_000, 0.2), ("lmdb-writemap", 2_000_000, 0.15),
                       ("lmdb", 900_000, 0.17), ("diskcache", 90_000, 6.0)]
        for (stem, rate, p50) in systems {
            for procs in [1, 8] {
                let text = """
                    \(stem) core procs=\(procs) ops=1000
                    get     count=900 miss=9 median_us=\(p50) p90_us=\(p50 * 2) p99_us=\(p50 * 3) max_us=\(p50 * 9)
                    set     count=90 miss=0 median_us=\(p50 * 8) p90_us=\(p50 * 9) p99_us=\(p50 * 40) max_us=\(p50 * 90)
                    wall_s=0.100 ops_per_s=\(rate / procs)

                    """
                try Data(text.utf8).write(to: URL(fileURLWithPath: "\(dir.path)/\(stem)-\(procs).txt"))
            }
        }
        let svgPath = dir.sub("compare.svg")
        let (status, _) = try runChild("/usr/bin/env", ["python3", root.path + "/Benchmarks/compare_report.py", "table", dir.path, "--svg", svgPath])
        #expect(status == 0)
        let bars = BarCollector.bars(try String(contentsOfFile: svgPath, encoding: .utf8), valueAttribute: "data-value")
        #expect(bars.count == 5 * systems.count, "5 panels of every system side by side")
        for panel in stride(from: 0, to: bars.count, by: systems.count) {
            let group = Array(bars[panel..<panel + systems.count])
            #expect(Set(group.map(\.x)).count == 1, "each bar starts at the axis (zero)")
            let largest = try #require(group.max { $0.value < $1.value })
            for bar in group {
                #expect(abs(bar.width - bar.value / largest.value * largest.width) <= 0.11, "\(bar.value): \(bar.width)")
            }
        }
    }
}
