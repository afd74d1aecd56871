/// One figure of a benchmark line, printed the same way as text and as JSON.
public enum BenchValue: Sendable, Equatable {
    case int(Int)
    /// A number printed with a fixed number of decimals.
    case decimal(Double, digits: Int)
    case text(String)

    public var text: String {
        switch self {
        case .int(let n): "\(n)"
        case .decimal(let x, let digits): x.isFinite ? fixed(x, digits: digits) : "nan"
        case .text(let s): s
        }
    }

    /// A JSON value: the same digits as `text` (a fixed-decimal number is valid JSON), strings quoted.
    public var json: String {
        switch self {
        case .int(let n): "\(n)"
        case .decimal(let x, _): x.isFinite ? text : "null"
        case .text(let s): jsonString(s)
        }
    }
}

public struct BenchField: Sendable, Equatable {
    public var key: String
    public var value: BenchValue

    public init(_ key: String, _ value: BenchValue) {
        self.key = key
        self.value = value
    }
}

/// One output line: `name key=value ...`, in the peer scripts' format.
public struct BenchLine: Sendable, Equatable {
    /// How the name starts the text line.
    public enum NameStyle: Sendable, Equatable {
        /// Padded to 7 characters, as the peer prints operation kinds (`get     count=..`).
        case operation
        /// Followed by one space (`open keys=..`).
        case label
        /// Not printed (`wall_s=.. ops_per_s=..`); JSON still names the line.
        case hidden
    }

    public var name: String
    public var style: NameStyle
    public var fields: [BenchField]
    /// The latency summary the line was made from, if any (what the SVG chart draws).
    public var latency: LatencySummary?

    public init(_ name: String, style: NameStyle, fields: [BenchField], latency: LatencySummary? = nil) {
        self.name = name
        self.style = style
        self.fields = fields
        self.latency = latency
    }

    public var text: String {
        let body = fields.map { "\($0.key)=\($0.value.text)" }.joined(separator: " ")
        switch style {
        case .operation: return name + String(repeating: " ", count: max(0, 7 - name.count)) + " " + body
        case .label: return name + " " + body
        case .hidden: return body
        }
    }

    /// `{"name": ..., key: value, ...}` with the fields in line order.
    public var json: String {
        let members = [jsonString("name") + ":" + jsonString(name)]
            + fields.map { jsonString($0.key) + ":" + $0.value.json }
        return "{" + members.joined(separator: ",") + "}"
    }
}

/// Everything one `cask bench` run prints: a header (workload and parameters) and result lines.
public struct BenchReport: Sendable, Equatable {
    public var workload: String
    public var parameters: [BenchField]
    public var lines: [BenchLine]

    public init(workload: String, parameters: [BenchField], lines: [BenchLine] = []) {
        self.workload = workload
        self.parameters = parameters
        self.lines = lines
    }

    /// `cask <workload> key=value ...`
    public var header: String {
        (["cask", workload] + parameters.map { "\($0.key)=\($0.value.text)" }).joined(separator: " ")
    }

    /// The header, then one text line per result line.
    public var text: String { ([header] + lines.map(\.text)).joined(separator: "\n") }

    /// `{"workload": .., "parameters": {..}, "results": [{"name": .., ..}, ..]}`, one line.
    public var json: String {
        let parameterMembers = parameters.map { jsonString($0.key) + ":" + $0.value.json }.joined(separator: ",")
        return "{" + jsonString("workload") + ":" + jsonString(workload) + ","
            + jsonString("parameters") + ":{" + parameterMembers + "},"
            + jsonString("results") + ":[" + lines.map(\.json).joined(separator: ",") + "]}"
    }

    /// The latency lines, for the chart.
    public var latencies: [(name: String, summary: LatencySummary)] {
        lines.compactMap { line in line.latency.map { (line.name, $0) } }
    }
}

/// `wall_s=.. ops_per_s=..`: the wall time of a run and its aggregate rate.
public func throughputLine(operations: Int, wallSeconds: Double) -> BenchLine {
    let rate = wallSeconds > 0 ? Double(operations) / wallSeconds : 0
    return BenchLine("wall", style: .hidden, fields: [
        BenchField("wall_s", .decimal(wallSeconds, digits: 3)),
        BenchField("ops_per_s", .int(rate.isFinite ? Int(rate.rounded()) : 0)),
    ])
}

/// A JSON string literal.
func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where u.value < 0x20:
            let hex = String(u.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}
