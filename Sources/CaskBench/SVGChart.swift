#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A bar chart of latency percentiles (p50, p90, p99, max) per operation kind, as a standalone
/// SVG document. The latency axis is logarithmic (whole decades), since max is often 100-1000x p50.
public struct LatencyChart: Sendable {
    public var title: String
    public var series: [(name: String, summary: LatencySummary)]

    public init(title: String, series: [(name: String, summary: LatencySummary)]) {
        self.title = title
        self.series = series
    }

    static let percentiles: [(label: String, color: String, value: @Sendable (LatencySummary) -> Double)] = [
        ("p50", "#4c78a8", { $0.medianMicros }),
        ("p90", "#72b7b2", { $0.p90Micros }),
        ("p99", "#f58518", { $0.p99Micros }),
        ("max", "#e45756", { $0.maxMicros }),
    ]

    // Layout, in SVG user units.
    static let width = 760.0, height = 440.0
    static let left = 80.0, right = 24.0, top = 64.0, bottom = 64.0

    /// The decades the axis spans: 10^low ... 10^high (at least one decade), in µs.
    func decades() -> (low: Int, high: Int) {
        let values = series.flatMap { s in Self.percentiles.map { $0.value(s.summary) } }.filter { $0 > 0 && $0.isFinite }
        guard let lo = values.min(), let hi = values.max() else { return (-1, 1) }
        let low = Int(log10(lo).rounded(.down))
        let high = max(low + 1, Int(log10(hi).rounded(.up)))
        return (low, high)
    }

    public func svg() -> String {
        let (low, high) = decades()
        let plotWidth = Self.width - Self.left - Self.right
        let plotHeight = Self.height - Self.top - Self.bottom
        let baseline = Self.top + plotHeight
        func y(_ micros: Double) -> Double {
            let clamped = min(max(micros, pow10(low)), pow10(high))
            return baseline - (log10(clamped) - Double(low)) / Double(high - low) * plotHeight
        }

        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(n(Self.width))" height="\(n(Self.height))" \
        viewBox="0 0 \(n(Self.width)) \(n(Self.height))" font-family="sans-serif" font-size="12">

        """
        out += "<rect x=\"0\" y=\"0\" width=\"\(n(Self.width))\" height=\"\(n(Self.height))\" fill=\"#ffffff\"/>\n"
        out += "<text x=\"\(n(Self.width / 2))\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(xmlEscaped(title))</text>\n"
        out += "<text x=\"\(n(Self.width / 2))\" y=\"42\" text-anchor=\"middle\" fill=\"#555555\">latency per operation, µs (log scale)</text>\n"

        // Decade grid lines and labels.
        for d in low...high {
            let gy = y(pow10(d))
            out += "<line x1=\"\(n(Self.left))\" y1=\"\(n(gy))\" x2=\"\(n(Self.width - Self.right))\" y2=\"\(n(gy))\" stroke=\"#dddddd\"/>\n"
            out += "<text x=\"\(n(Self.left - 8))\" y=\"\(n(gy + 4))\" text-anchor=\"end\">\(xmlEscaped(durationLabel(decade: d)))</text>\n"
        }
        out += "<line x1=\"\(n(Self.left))\" y1=\"\(n(Self.top))\" x2=\"\(n(Self.left))\" y2=\"\(n(baseline))\" stroke=\"#333333\"/>\n"
        out += "<line x1=\"\(n(Self.left))\" y1=\"\(n(baseline))\" x2=\"\(n(Self.width - Self.right))\" y2=\"\(n(baseline))\" stroke=\"#333333\"/>\n"

        // One group of bars per operation kind.
        let groups = max(1, series.count)
        let groupWidth = plotWidth / Double(groups)
        let barWidth = min(48, groupWidth * 0.8 / Double(Self.percentiles.count))
        for (g, s) in series.enumerated() {
            let groupLeft = Self.left + Double(g) * groupWidth + (groupWidth - barWidth * Double(Self.percentiles.count)) / 2
            out += "<g>\n"
            for (i, p) in Self.percentiles.enumerated() {
                let v = p.value(s.summary)
                let bx = groupLeft + Double(i) * barWidth
                let by = y(v)
                out += "<rect x=\"\(n(bx + 1))\" y=\"\(n(by))\" width=\"\(n(barWidth - 2))\" height=\"\(n(baseline - by))\" fill=\"\(p.color)\">"
                out += "<title>\(xmlEscaped("\(s.name) \(p.label): \(fixed2(v)) µs"))</title></rect>\n"
                out += "<text x=\"\(n(bx + barWidth / 2))\" y=\"\(n(by - 4))\" text-anchor=\"middle\" font-size=\"10\">\(xmlEscaped(compact(v)))</text>\n"
            }
            let cx = Self.left + (Double(g) + 0.5) * groupWidth
            out += "<text x=\"\(n(cx))\" y=\"\(n(baseline + 20))\" text-anchor=\"middle\" font-weight=\"bold\">\(xmlEscaped(s.name))</text>\n"
            out += "<text x=\"\(n(cx))\" y=\"\(n(baseline + 36))\" text-anchor=\"middle\" fill=\"#555555\">n=\(s.summary.count)</text>\n"
            out += "</g>\n"
        }

        // Legend, top right.
        for (i, p) in Self.percentiles.enumerated() {
            let lx = Self.width - Self.right - Double(Self.percentiles.count - i) * 56
            out += "<rect x=\"\(n(lx))\" y=\"\(n(Self.top - 14))\" width=\"10\" height=\"10\" fill=\"\(p.color)\"/>"
            out += "<text x=\"\(n(lx + 14))\" y=\"\(n(Self.top - 5))\">\(p.label)</text>\n"
        }
        out += "</svg>\n"
        return out
    }
}

/// 10^d.
func pow10(_ d: Int) -> Double { pow(10, Double(d)) }

/// An axis label for 10^decade µs: `100 ns`, `1 µs`, `10 ms`, `1 s`.
func durationLabel(decade d: Int) -> String {
    let units = [(-3, "ns"), (0, "µs"), (3, "ms"), (6, "s")]
    let unit = units.last { $0.0 <= d } ?? units[0]
    let exponent = d - unit.0
    if exponent < 0 { return "\(fixed(pow10(exponent), digits: -exponent)) \(unit.1)" }
    return "\(Int(pow10(exponent))) \(unit.1)"
}

/// A short value label: 0.31, 4.9, 96, 1.2k (µs).
func compact(_ v: Double) -> String {
    if v < 1 { return fixed(v, digits: 2) }
    if v < 10 { return fixed(v, digits: 1) }
    if v < 1000 { return fixed(v, digits: 0) }
    if v < 1_000_000 { return fixed(v / 1000, digits: 1) + "k" }
    return fixed(v / 1_000_000, digits: 1) + "M"
}

/// A coordinate with at most one decimal.
func n(_ x: Double) -> String {
    let r = (x * 10).rounded() / 10
    return r == r.rounded() ? "\(Int(r))" : fixed(r, digits: 1)
}

/// Text escaped for XML character data and attribute values.
func xmlEscaped(_ s: String) -> String {
    var out = ""
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        default: out.append(c)
        }
    }
    return out
}
