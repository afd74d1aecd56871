/// Latency samples of one kind of operation, summarized the way the peer scripts print them.
public struct LatencySummary: Sendable, Equatable {
    public var count: Int
    public var misses: Int
    public var medianMicros: Double
    public var p90Micros: Double
    public var p99Micros: Double
    public var maxMicros: Double

    /// Summarizes nanosecond samples. Percentile p is the sorted sample at index
    /// `max(0, Int(count * p) - 1)`, exactly as the peer computes it.
    public init(nanos: [UInt32], misses: Int) {
        let sorted = nanos.sorted()
        count = sorted.count
        self.misses = misses
        func pct(_ p: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            return Double(sorted[max(0, Int(Double(sorted.count) * p) - 1)]) / 1000
        }
        medianMicros = pct(0.5)
        p90Micros = pct(0.9)
        p99Micros = pct(0.99)
        maxMicros = sorted.last.map { Double($0) / 1000 } ?? 0
    }

    /// `get count=.. miss=.. median_us=.. p90_us=.. p99_us=.. max_us=..` (the peer's format).
    public func line(_ name: String) -> String { benchLine(name).text }

    /// The peer's line as a ``BenchLine`` (so that it can also be printed as JSON and charted).
    public func benchLine(_ name: String) -> BenchLine {
        BenchLine(name, style: .operation, fields: [
            BenchField("count", .int(count)),
            BenchField("miss", .int(misses)),
            BenchField("median_us", .decimal(medianMicros, digits: 2)),
            BenchField("p90_us", .decimal(p90Micros, digits: 2)),
            BenchField("p99_us", .decimal(p99Micros, digits: 2)),
            BenchField("max_us", .decimal(maxMicros, digits: 2)),
        ], latency: self)
    }
}

/// Formats with two decimals (no Foundation needed).
public func fixed2(_ x: Double) -> String {
    let scaled = (x * 100).rounded()
    let negative = scaled < 0
    let v = Int(abs(scaled))
    let frac = v % 100
    return (negative ? "-" : "") + "\(v / 100)." + (frac < 10 ? "0" : "") + "\(frac)"
}

public func fixed(_ x: Double, digits: Int) -> String {
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    let v = Int((abs(x) * p).rounded())
    let whole = v / Int(p)
    var frac = String(v % Int(p))
    while frac.count < digits { frac = "0" + frac }
    return (x < 0 ? "-" : "") + "\(whole)" + (digits > 0 ? "." + frac : "")
}
