/// Writes a call key without `JSONEncoder` for the arguments it can write byte for byte as
/// `JSONEncoder` (sorted keys, slashes unescaped) writes them — so keys keep the bytes of every
/// earlier release (``MemoCallKey``), at a fraction of the cost. The head of the key
/// (`j{"fn":…,"t":…,"v":…,"x":`) is made once per function; the arguments are appended when they
/// are integers, `Bool`s, `String`s, arrays of those, or (several arguments) a list of those.
/// Anything else — `Double` (whose JSON text is the encoder's own), optionals, sets, dictionaries,
/// structures — goes through `JSONEncoder` as before. `MemoKeyWriterTests` compares the two on
/// every kind of value written here.
struct MemoKeyWriter: Sendable {
    let name: String
    let version: String
    let typeName: String?
    /// `j{"fn":"<name>",["t":"<type>",]"v":"<version>","x":`
    let head: [UInt8]
    /// False when the version is too long to store: every key then goes the slow way, which throws.
    let versionFits: Bool

    init(name: String, version: String, typeName: String?) {
        self.name = name
        self.version = version
        self.typeName = typeName
        var head: [UInt8] = [0x6A]
        head += "{\"fn\":".utf8
        Self.appendString(name, to: &head)
        if let typeName {
            head += ",\"t\":".utf8
            Self.appendString(typeName, to: &head)
        }
        head += ",\"v\":".utf8
        Self.appendString(version, to: &head)
        head += ",\"x\":".utf8
        self.head = head
        versionFits = version.utf8.count <= MemoEnvelope.maxVersionLength
    }

    /// The key of a call whose key part is `part`.
    /// - Throws: `.invalidArgument` for a version too long to store or a part JSON cannot represent.
    func key<Part: Encodable>(_ part: Part) throws -> [UInt8] {
        var out = head
        if versionFits, Self.append(part, to: &out) {
            out.append(0x7D)
            return out
        }
        return try MemoCallKey.bytes(name: name, version: version, type: typeName, part: part)
    }

    /// The key of a call with several arguments (or none): the JSON array of them.
    func key(list values: [any Encodable]) throws -> [UInt8] {
        var out = head
        if versionFits, Self.appendList(values, to: &out) {
            out.append(0x7D)
            return out
        }
        return try MemoCallKey.bytes(name: name, version: version, type: typeName, part: ArgumentList(values: values))
    }

    static func appendList(_ values: [any Encodable], to out: inout [UInt8]) -> Bool {
        out.append(0x5B)
        for (i, value) in values.enumerated() {
            if i > 0 { out.append(0x2C) }
            guard append(value, to: &out) else { return false }
        }
        out.append(0x5D)
        return true
    }

    /// Appends `value` as JSON; false (with `out` in an unspecified state) if it has no fast path.
    static func append<V: Encodable>(_ value: V, to out: inout [UInt8]) -> Bool {
        if V.self == Int.self { appendInteger(value as! Int, to: &out); return true }
        if V.self == String.self { appendString(value as! String, to: &out); return true }
        if V.self == Bool.self { out += (value as! Bool) ? "true".utf8 : "false".utf8; return true }
        if V.self == Int64.self { appendInteger(value as! Int64, to: &out); return true }
        if V.self == Int32.self { appendInteger(value as! Int32, to: &out); return true }
        if V.self == Int16.self { appendInteger(value as! Int16, to: &out); return true }
        if V.self == Int8.self { appendInteger(value as! Int8, to: &out); return true }
        if V.self == UInt.self { appendInteger(value as! UInt, to: &out); return true }
        if V.self == UInt64.self { appendInteger(value as! UInt64, to: &out); return true }
        if V.self == UInt32.self { appendInteger(value as! UInt32, to: &out); return true }
        if V.self == UInt16.self { appendInteger(value as! UInt16, to: &out); return true }
        if V.self == UInt8.self { appendInteger(value as! UInt8, to: &out); return true }
        if let array = value as? any MemoKeyArray { return array.appendMemoKey(to: &out) }
        return false
    }

    static func appendInteger<I: BinaryInteger>(_ value: I, to out: inout [UInt8]) {
        if value < 0 { out.append(0x2D) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // up to 20 digits, backwards
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[n] = UInt8(truncatingIfNeeded: magnitude % 10) + 0x30
                magnitude /= 10
                n += 1
            } while magnitude != 0
            for i in stride(from: n - 1, through: 0, by: -1) { out.append(d[i]) }
        }
    }

    /// A JSON string as `JSONEncoder` writes it with `.withoutEscapingSlashes`: `"` and `\`
    /// escaped, the C0 controls as `\b \t \n \f \r` or `\u00xx`, everything else as UTF-8.
    static func appendString(_ string: String, to out: inout [UInt8]) {
        out.append(0x22)
        for byte in string.utf8 {
            switch byte {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x08: out += [0x5C, 0x62]
            case 0x09: out += [0x5C, 0x74]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0C: out += [0x5C, 0x66]
            case 0x0D: out += [0x5C, 0x72]
            case 0..<0x20: out += [0x5C, 0x75, 0x30, 0x30, (byte >> 4) + 0x30, Self.hexDigit(byte & 0xF)]
            default: out.append(byte)
            }
        }
        out.append(0x22)
    }
}

extension MemoKeyWriter {
    /// The lowercase hex digit of `v` (0…15).
    static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x61 + v - 10 }
}

/// An array whose JSON the key writer may write itself (if its elements have a fast path).
protocol MemoKeyArray {
    func appendMemoKey(to out: inout [UInt8]) -> Bool
}

extension Array: MemoKeyArray where Element: Encodable {
    func appendMemoKey(to out: inout [UInt8]) -> Bool {
        out.append(0x5B)
        for (i, element) in enumerated() {
            if i > 0 { out.append(0x2C) }
            guard MemoKeyWriter.append(element, to: &out) else { return false }
        }
        out.append(0x5D)
        return true
    }
}
