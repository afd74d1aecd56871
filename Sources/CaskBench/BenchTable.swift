/// The human form of a ``BenchReport`` (what `cask bench` prints by default): the run's parameters,
/// one aligned table per kind of result line with units in the column headings, the throughput
/// in words, and one line saying what the rows mean. `--raw` prints ``BenchReport/text`` instead.
extension BenchReport {
    public var table: String {
        var out = ["Cask bench, \(workload) workload: "
                   + parameters.map { "\($0.key)=\($0.value.text)" }.joined(separator: " ")]
        var meanings: [String] = []
        var index = 0
        while index < lines.count {
            let first = lines[index]
            if first.name == "wall" {
                out += ["", throughputSentence(first)]
                index += 1
                continue
            }
            var group = [first]
            index += 1
            while index < lines.count, lines[index].name != "wall", sameTable(lines[index], first) {
                group.append(lines[index])
                index += 1
            }
            out += [""] + tableRows(group)
            let meaning = Self.meaning(of: first)
            if !meanings.contains(meaning) { meanings.append(meaning) }
        }
        if lines.contains(where: { $0.name == "wall" }) { meanings.append(Self.throughputMeaning) }
        out += ["", meanings.joined(separator: " ")]
        return out.joined(separator: "\n")
    }

    static let throughputMeaning = "throughput: operations per second of all workers together over the run's wall time."

    /// Lines that share a table: operation lines with each other, other lines by name and fields.
    func sameTable(_ a: BenchLine, _ b: BenchLine) -> Bool {
        if a.style == .operation || b.style == .operation { return a.style == b.style && a.latency != nil && b.latency != nil }
        return a.name == b.name && a.fields.map(\.key) == b.fields.map(\.key)
    }

    func throughputSentence(_ wall: BenchLine) -> String {
        let rate = wall.fields.first { $0.key == "ops_per_s" }?.value ?? .int(0)
        let seconds = wall.fields.first { $0.key == "wall_s" }?.value.text ?? "?"
        return "throughput  \(grouped(rate)) ops/s  (\(seconds) s wall time)"
    }

    /// The heading row, then one aligned row per line; the first column names the row.
    func tableRows(_ group: [BenchLine]) -> [String] {
        let first = group[0]
        let named = first.style != .hidden
        let labelHeading = first.style == .operation ? "operation" : named ? "" : Self.heading(first.fields[0].key)
        let columns = named ? first.fields.map(\.key) : first.fields.dropFirst().map(\.key)
        var rows = [[labelHeading] + columns.map(Self.heading)]
        for line in group {
            let label = named ? line.name : line.fields[0].value.text
            let values = named ? line.fields : Array(line.fields.dropFirst())
            rows.append([label] + values.map { grouped($0.value) })
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0.count > c ? $0[c].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return c == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
    }

    /// A column heading with its unit: `median_us` → `p50 µs`, `set_MBps` → `set MB/s`.
    static func heading(_ key: String) -> String {
        let known = ["median_us": "p50 µs", "p90_us": "p90 µs", "p99_us": "p99 µs", "max_us": "max µs",
                     "miss": "misses", "hit_ratio": "hit ratio", "size": "size (bytes)"]
        if let k = known[key] { return k }
        let units = [("_us", " µs"), ("_s", " s"), ("_MBps", " MB/s"), ("_MB", " MB")]
        var name = key, unit = ""
        if let (suffix, u) = units.first(where: { key.hasSuffix($0.0) }) {
            name = String(key.dropLast(suffix.count))
            unit = u
        }
        return name.replacingUnderscores + unit
    }

    /// One sentence saying what the rows of a table of `line`'s kind are.
    static func meaning(of line: BenchLine) -> String {
        switch line.name {
        case _ where line.style == .operation:
            "get/set/delete: time of one operation in microseconds (µs) at the median (p50), 90th and 99th "
                + "percentile, and the slowest (max); misses: gets that found no value."
        case "trace":
            "Each row replays the same requests through one eviction policy (exact-* and s3-fifo: exact "
                + "references computed in memory); hit ratio = hits ÷ requests, higher is better."
        case "large_values":
            "Each row writes, reads (copy) and reads in place values of one size: MB/s (1 MB = 10^6 bytes) "
                + "and the median µs per operation."
        case "open":
            "open: seconds to open a cache of that many keys and serve the first get; heap bytes of the index per key."
        case "compaction":
            "compaction: seconds to compact the whole cache, and the longest time a reader waited on its lock (µs)."
        default:
            "\(line.name): the figures of the run, units in the headings."
        }
    }
}

extension String {
    var replacingUnderscores: String { String(map { $0 == "_" ? " " : $0 }) }
}

/// A figure for people: integers with thousands separators, decimals as printed raw.
func grouped(_ value: BenchValue) -> String {
    guard case .int(let n) = value else { return value.text }
    let digits = String(n.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}
