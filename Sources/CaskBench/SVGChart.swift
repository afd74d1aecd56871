#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A bar chart of latency percentiles (p50, p90, p99) per operation kind, as a standalone SVG
/// document. Bars start from zero on a linear axis in µs, so their heights compare as the values
/// do; the slowest operation (max, often 100-1000x p50) is written under its group instead of drawn.
/// Every bar is `<rect class="bar" data-us="…">` (its value in µs) with a tooltip.
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
    ]

    // Layout, in SVG user units.
    static let width = 760.0, height = 460.0
    static let left = 90.0, right = 24.0, top = 64.0, bottom = 84.0

    /// The axis: ticks every `step` µs from 0 to `top` (at least the largest bar).
    func axis() -> (top: Double, step: Double) {
        let largest = series.flatMap { s in Self.percentiles.map { $0.value(s.summary) } }.filter(\.isFinite).max() ?? 0
        let step = niceStep(above: largest > 0 ? largest / 5 : 0.2)
        return (max(step, (largest / step).rounded(.up) * step), step)
    }

    public func svg() -> String {
        let (axisTop, step) = axis()
        let plotWidth = Self.width - Self.left - Self.right
        let plotHeight = Self.height - Self.top - Self.bottom
        let baseline = Self.top + plotHeight
        func y(_ micros: Double) -> Double { baseline - min(max(micros, 0), axisTop) / axisTop * plotHeight }

        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(n(Self.width))" height="\(n(Self.height))" \
        viewBox="0 0 \(n(Self.width)) \(n(Self.height))" font-family="sans-serif" font-size="12">

        """
        out += "<rect x=\"0\" y=\"0\" width=\"\(n(Self.width))\" height=\"\(n(Self.height))\" fill=\"#ffffff\"/>\n"
        out += "<text x=\"\(n(Self.width / 2))\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(xmlEscaped(title))</text>\n"
        out += "<text x=\"\(n(Self.width / 2))\" y=\"42\" text-anchor=\"middle\" fill=\"#555555\">latency of one operation, "
            + "bars from zero (lower is better)</text>\n"

        // Ticks, grid lines and the axis title.
        var tick = 0.0
        while tick <= axisTop + step / 2 {
            let gy = y(tick)
            out += "<line x1=\"\(n(Self.left))\" y1=\"\(n(gy))\" x2=\"\(n(Self.width - Self.right))\" y2=\"\(n(gy))\" stroke=\"#dddddd\"/>\n"
            out += "<text x=\"\(n(Self.left - 8))\" y=\"\(n(gy + 4))\" text-anchor=\"end\">\(xmlEscaped(compact(tick)))</text>\n"
            tick += step
        }
        out += "<text transform=\"translate(22 \(n(Self.top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">latency (µs)</text>\n"
        out += "<line x1=\"\(n(Self.left))\" y1=\"\(n(Self.top))\" x2=\"\(n(Self.left))\" y2=\"\(n(baseline))\" stroke=\"#333333\"/>\n"
        out += "<line x1=\"\(n(Self.left))\" y1=\"\(n(baseline))\" x2=\"\(n(Self.width - Self.right))\" y2=\"\(n(baseline))\" stroke=\"#333333\"/>\n"

        // One group of bars per operation kind.
        let groups = max(1, series.count)
        let groupWidth = plotWidth / Double(groups)
        let barWidth = min(56, groupWidth * 0.8 / Double(Self.percentiles.count))
        for (g, s) in series.enumerated() {
            let groupLeft = Self.left + Double(g) * groupWidth + (groupWidth - barWidth * Double(Self.percentiles.count)) / 2
            out += "<g>\n"
            for (i, p) in Self.percentiles.enumerated() {
                let v = p.value(s.summary)
                let bx = groupLeft + Double(i) * barWidth
                let by = y(v)
                out += "<rect class=\"bar\" data-us=\"\(fixed(v, digits: 3))\" x=\"\(n(bx + 1))\" y=\"\(n(by))\" "
                out += "width=\"\(n(barWidth - 2))\" height=\"\(n(baseline - by))\" fill=\"\(p.color)\">"
                out += "<title>\(xmlEscaped("\(s.name) \(p.label): \(fixed2(v)) µs"))</title></rect>\n"
                out += "<text x=\"\(n(bx + barWidth / 2))\" y=\"\(n(by - 4))\" text-anchor=\"middle\" font-size=\"10\">\(xmlEscaped(compact(v)))</text>\n"
            }
            let cx = Self.left + (Double(g) + 0.5) * groupWidth
            out += "<text x=\"\(n(cx))\" y=\"\(n(baseline + 20))\" text-anchor=\"middle\" font-weight=\"bold\">\(xmlEscaped(s.name))</text>\n"
            out += "<text x=\"\(n(cx))\" y=\"\(n(baseline + 36))\" text-anchor=\"middle\" fill=\"#555555\">"
                + "\(xmlEscaped("max \(compact(s.summary.maxMicros)) µs, n=\(s.summary.count)"))</text>\n"
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

/// The smallest of 1, 2, 5 × 10^k at least `x` (x > 0): a tick step people read at a glance.
func niceStep(above x: Double) -> Double {
    let decade = pow10(Int(log10(x).rounded(.down)))
    return [1.0, 2, 5, 10].map { $0 * decade }.first { $0 >= x * (1 - 1e-9) } ?? 10 * decade
}

/// 10^d.
func pow10(_ d: Int) -> Double { pow(10, Double(d)) }

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
