import CaskStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The canonical key of one memoized call: what is hashed, stored and compared.
///
/// It is the ``CodableKey`` encoding (`j` + JSON with sorted object keys, slashes unescaped) of
///
/// ```json
/// {"fn": "<name>", "t": "<argument type>", "v": "<version>", "x": <arguments or key part>}
/// ```
///
/// `t` is present only for `typed` functions (then `f(1)` and `f(1.0)` are different calls). The
/// field names sort so that every key of one function starts with the same bytes
/// (`j{"fn":"<name>",`), which is how ``MemoizedFunction/clear()`` finds them.
///
/// `x` is written through ``Canonical``: sets, and dictionaries whose keys are neither strings nor
/// integers, are ordered by their elements' (keys') encoded bytes, so they too give one key in every
/// process; everything else is the plain sorted-key JSON.
struct MemoCallKey<Part: Encodable>: Encodable {
    var fn: String
    var t: String?
    var v: String
    var x: Canonical<Part>

    /// The key's bytes. Unlike ``CodableKey``, an argument JSON cannot represent (a non-finite
    /// `Double`, say) is an error here: a memoized call must never share a key by accident.
    static func bytes(name: String, version: String, type: String?, part: Part) throws -> [UInt8] {
        guard version.utf8.count <= MemoEnvelope.maxVersionLength else {
            throw CaskError(.invalidArgument, "version of memoized function \(name) is longer than \(MemoEnvelope.maxVersionLength) bytes")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return [0x6A] + Array(try encoder.encode(MemoCallKey(fn: name, t: type, v: version, x: Canonical(part))))
        } catch {
            throw CaskError(.invalidArgument, "arguments of memoized function \(name) cannot be encoded as a key: \(error)")
        }
    }

    /// The bytes every key of function `name` starts with.
    static func prefix(name: String) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let quoted = (try? encoder.encode(name)).map { Array($0) } ?? Array("\"\(name)\"".utf8)
        return [0x6A] + Array("{\"fn\":".utf8) + quoted + [0x2C]
    }
}

/// A memoized result as stored: a fixed header, the metadata the validity policies need, then the
/// result itself. Stored as the record's bytes value; all integers little-endian.
///
/// ```
/// 0   4  "CKM2" ("CKM1": an entry written before witnesses had names; still read)
/// 4   1  result encoding: 0 bytes, 1 string, 2 integer, 3 double (as in records), 4 the cache's
///        coder, 5 Cask's compact binary form (``CompactCoding``; what results are written in
///        when the cache has the default JSON coder)
/// 5   1  0
/// 6   2  version length v
/// 8   8  computed at (µs since the epoch, from the cache's clock)
/// 16  8  compute duration (µs)
/// 24  4  witness block length f
/// 28  4  0
/// 32  v  version, UTF-8
/// ..  f  witnesses (see ``MemoWitnesses``); in "CKM1": the source-file fingerprints, a JSON array
/// ..     the result, in the encoding of byte 4
/// ```
struct MemoEnvelope: Sendable {
    static let magic: [UInt8] = Array("CKM2".utf8)
    static let legacyMagic: [UInt8] = Array("CKM1".utf8)
    static let headerSize = 32
    /// The version's length is a 16-bit field.
    static let maxVersionLength = Int(UInt16.max)

    var resultEncoding: MemoResultEncoding
    var version: String
    var computedAt: Int64
    var computeDuration: Int64
    var witnesses: MemoWitnesses
    /// The result's bytes (a slice of the stored value when parsed: not copied).
    var result: ArraySlice<UInt8>

    func encoded() -> [UInt8] {
        let v = Array(version.utf8)
        let w = witnesses.encoded()
        var out: [UInt8] = []
        out.reserveCapacity(Self.headerSize + v.count + w.count + result.count)
        out += Self.magic
        out.append(resultEncoding.rawValue)
        out.append(0)
        out += withUnsafeBytes(of: UInt16(v.count).littleEndian) { Array($0) }
        out += ValueCodec.le(computedAt)
        out += ValueCodec.le(computeDuration)
        out += withUnsafeBytes(of: UInt32(w.count).littleEndian) { Array($0) }
        out += [0, 0, 0, 0]
        out += v
        out += w
        out += result
        return out
    }

    init(resultEncoding: MemoResultEncoding, version: String, computedAt: Int64, computeDuration: Int64,
         witnesses: MemoWitnesses, result: [UInt8]) {
        self.resultEncoding = resultEncoding
        self.version = version
        self.computedAt = computedAt
        self.computeDuration = computeDuration
        self.witnesses = witnesses
        self.result = result[...]
    }

    /// Parses an envelope; nil when the bytes are not one (a value stored under the key by
    /// something else), which the caller treats as a miss.
    init?(_ bytes: [UInt8]) {
        guard bytes.count >= Self.headerSize, let encoding = MemoResultEncoding(rawValue: bytes[4]) else { return nil }
        let current = bytes[0..<4].elementsEqual(Self.magic)
        guard current || bytes[0..<4].elementsEqual(Self.legacyMagic) else { return nil }
        let vlen = Int(UInt16(bytes[6]) | UInt16(bytes[7]) << 8)
        let flen = MemoWitnesses.u32(bytes, 24)
        guard Self.headerSize + vlen + flen <= bytes.count else { return nil }
        resultEncoding = encoding
        computedAt = MemoWitnesses.i64(bytes, 8)
        computeDuration = MemoWitnesses.i64(bytes, 16)
        let vEnd = Self.headerSize + vlen
        version = String(decoding: bytes[Self.headerSize..<vEnd], as: UTF8.self)
        if !current {
            witnesses = MemoWitnesses(legacyFingerprints: Array(bytes[vEnd..<(vEnd + flen)]))
        } else if flen == 0 {
            witnesses = MemoWitnesses()
        } else {
            guard let w = MemoWitnesses(decoding: Array(bytes[vEnd..<(vEnd + flen)])) else { return nil }
            witnesses = w
        }
        result = bytes[(vEnd + flen)...]
    }

    /// Decodes the result as `type`.
    /// - Throws: ``CaskError`` (`.typeMismatch`) if it is not one.
    func decodeResult<Output: Decodable>(_ type: Output.Type, coder: any CacheCoder) throws -> Output {
        guard let native = resultEncoding.valueEncoding else {
            do {
                return try CompactCoding.decode(Output.self, from: result)
            } catch {
                throw CaskError(.typeMismatch, "stored result does not decode as \(Output.self): \(error)")
            }
        }
        return try ValueCodec.decode(Output.self, encoding: native, bytes: Array(result), coder: coder)
    }

    /// How a result is written: natively when it is bytes, a string or a number (as records are);
    /// otherwise in the compact form, unless the cache has a coder of its own, which is used then.
    static func encodeResult<Output: Encodable>(_ value: Output, coder: any CacheCoder) throws -> (MemoResultEncoding, [UInt8]) {
        guard coder is JSONCacheCoder, ValueCodec.nativeEncoding(of: Output.self) == nil else {
            let (encoding, bytes) = try ValueCodec.encode(value, coder: coder)
            return (MemoResultEncoding(encoding), bytes)
        }
        do {
            return (.compact, try CompactCoding.encode(value))
        } catch {
            throw CaskError(.invalidArgument, "value of type \(Output.self) cannot be encoded: \(error)")
        }
    }
}

/// Byte 4 of a ``MemoEnvelope``: a record value encoding, or the compact form.
enum MemoResultEncoding: UInt8, Sendable {
    case bytes = 0
    case string = 1
    case integer = 2
    case double = 3
    case coded = 4
    case compact = 5

    init(_ encoding: ValueEncoding) { self.init(rawValue: encoding.rawValue)! }

    /// The record encoding this is; nil for the compact form.
    var valueEncoding: ValueEncoding? { ValueEncoding(rawValue: rawValue) }
}

/// The witnesses of a stored result, by rule name: a sequence of
/// `u16 name length, name (UTF-8), u32 witness length, witness`. A rule whose witness was nil has
/// no item.
struct MemoWitnesses: Sendable, Equatable {
    var items: [(name: String, bytes: [UInt8])] = []
    /// A "CKM1" entry's source-file fingerprints: the witness of every source-file rule.
    var legacyFingerprints: [UInt8]?

    init(_ items: [(name: String, bytes: [UInt8])] = []) { self.items = items }

    init(legacyFingerprints: [UInt8]) { self.legacyFingerprints = legacyFingerprints }

    init?(decoding block: [UInt8]) {
        var at = 0
        while at < block.count {
            guard at + 2 <= block.count else { return nil }
            let n = Int(UInt16(block[at]) | UInt16(block[at + 1]) << 8)
            guard at + 2 + n + 4 <= block.count else { return nil }
            let name = String(decoding: block[(at + 2)..<(at + 2 + n)], as: UTF8.self)
            let w = Self.u32(block, at + 2 + n)
            let start = at + 2 + n + 4
            guard start + w <= block.count else { return nil }
            items.append((name, Array(block[start..<(start + w)])))
            at = start + w
        }
    }

    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        for (name, bytes) in items {
            let n = Array(name.utf8)
            out += withUnsafeBytes(of: UInt16(n.count).littleEndian) { Array($0) }
            out += n
            out += withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { Array($0) }
            out += bytes
        }
        return out
    }

    /// The witness stored for the rule named `name`, if any.
    func witness(named name: String) -> [UInt8]? {
        if let legacyFingerprints {
            return name.hasPrefix(SourceFilesRule.namePrefix) && !legacyFingerprints.isEmpty ? legacyFingerprints : nil
        }
        return items.first { $0.name == name }?.bytes
    }

    static func == (a: MemoWitnesses, b: MemoWitnesses) -> Bool {
        a.legacyFingerprints == b.legacyFingerprints && a.items.elementsEqual(b.items) { $0.name == $1.name && $0.bytes == $1.bytes }
    }

    static func i64(_ bytes: [UInt8], _ at: Int) -> Int64 {
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
        return Int64(bitPattern: v)
    }

    static func u32(_ bytes: [UInt8], _ at: Int) -> Int {
        Int(UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24)
    }
}

/// What the validity policies see of a stored result.
public struct MemoEntryInfo: Sendable, Equatable {
    /// When the result was computed (seconds since the epoch, by the cache's clock).
    public var computedAt: Double
    /// When the result was last served (seconds since the epoch). Tracked only with
    /// `trackAccess`; otherwise nil.
    public var lastAccess: Double?
    /// How many times the result was served, this call excluded. Tracked only with `trackAccess`;
    /// otherwise 0.
    public var hits: Int
    /// How long computing the result took, in seconds (by the cache's clock).
    public var computeDuration: Double
    /// The canonical key of the call (see ``MemoizedFunction/key(for:)``), as text.
    public var argumentsKey: String
    /// The entry's tag.
    public var tag: String?
    /// The function version the result was computed by.
    public var version: String
}

/// A hit/access counter kept beside an entry when `trackAccess` is on: the engine key is
/// `0x00 "memo-access" 0x01` + the call key (the cache's own namespace), the value two i64
/// (hits, last access µs).
enum MemoAccess {
    static func key(_ callKey: [UInt8]) -> [UInt8] { Cache.bookkeepingKey("memo-access", callKey) }
}
