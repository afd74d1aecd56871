#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads values out of compact bytes; every offset is checked before it is read.
struct CompactReader {
    let bytes: ArraySlice<UInt8>

    func corrupted(_ path: [any CodingKey], _ why: String) -> DecodingError {
        .dataCorrupted(.init(codingPath: path, debugDescription: why))
    }

    func mismatch(_ type: Any.Type, _ path: [any CodingKey], found tag: UInt8) -> DecodingError {
        .typeMismatch(type, .init(codingPath: path, debugDescription: "expected \(type), found compact tag \(tag)"))
    }

    func tag(_ at: Int, path: [any CodingKey]) throws -> UInt8 {
        guard at >= bytes.startIndex, at < bytes.endIndex else { throw corrupted(path, "value cut short") }
        return bytes[at]
    }

    func u32(_ at: Int, path: [any CodingKey]) throws -> Int {
        guard at >= bytes.startIndex, at + 4 <= bytes.endIndex else { throw corrupted(path, "value cut short") }
        var v = 0
        for i in 0..<4 { v |= Int(bytes[at + i]) << (8 * i) }
        return v
    }

    func u64(_ at: Int, path: [any CodingKey]) throws -> UInt64 {
        guard at >= bytes.startIndex, at + 8 <= bytes.endIndex else { throw corrupted(path, "value cut short") }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
        return v
    }

    /// The offset just past the value at `at`.
    func end(of at: Int, path: [any CodingKey]) throws -> Int {
        let end: Int
        switch try tag(at, path: path) {
        case CompactCoding.null, CompactCoding.falseTag, CompactCoding.trueTag: end = at + 1
        case CompactCoding.int, CompactCoding.uint, CompactCoding.double: end = at + 9
        case CompactCoding.string, CompactCoding.bytes: end = at + 5 + (try u32(at + 1, path: path))
        case CompactCoding.array, CompactCoding.keyed:
            let size = try u32(at + 1, path: path)
            guard size >= CompactCoding.containerHeader else { throw corrupted(path, "container size \(size)") }
            end = at + size
        case let t: throw corrupted(path, "unknown compact tag \(t)")
        }
        guard end <= bytes.endIndex else { throw corrupted(path, "value cut short") }
        return end
    }

    /// The content of a string or bytes value.
    func payload(_ at: Int, path: [any CodingKey]) throws -> ArraySlice<UInt8> {
        let end = try end(of: at, path: path)
        return bytes[(at + 5)..<end]
    }

    /// True for the types decoded without a container.
    static func isPrimitive(_ type: Any.Type) -> Bool {
        type == Int.self || type == String.self || type == Double.self || type == Bool.self || type == Int64.self
            || type == UInt64.self || type == Int32.self || type == UInt32.self || type == UInt8.self || type == Float.self
    }

    func isNil(_ at: Int, path: [any CodingKey]) throws -> Bool { try tag(at, path: path) == CompactCoding.null }

    func bool(_ at: Int, path: [any CodingKey]) throws -> Bool {
        switch try tag(at, path: path) {
        case CompactCoding.trueTag: return true
        case CompactCoding.falseTag: return false
        case let t: throw mismatch(Bool.self, path, found: t)
        }
    }

    func integer<T: FixedWidthInteger>(_ type: T.Type, _ at: Int, path: [any CodingKey]) throws -> T {
        let t = try tag(at, path: path)
        let value: T?
        switch t {
        case CompactCoding.int: value = T(exactly: Int64(bitPattern: try u64(at + 1, path: path)))
        case CompactCoding.uint: value = T(exactly: try u64(at + 1, path: path))
        default: throw mismatch(T.self, path, found: t)
        }
        guard let value else { throw corrupted(path, "number does not fit \(T.self)") }
        return value
    }

    func double(_ at: Int, path: [any CodingKey]) throws -> Double {
        switch try tag(at, path: path) {
        case CompactCoding.double: return Double(bitPattern: try u64(at + 1, path: path))
        case CompactCoding.int: return Double(Int64(bitPattern: try u64(at + 1, path: path)))
        case CompactCoding.uint: return Double(try u64(at + 1, path: path))
        case let t: throw mismatch(Double.self, path, found: t)
        }
    }

    func float(_ at: Int, path: [any CodingKey]) throws -> Float {
        let d = try double(at, path: path)
        let f = Float(d)
        guard f.isFinite || !d.isFinite else { throw corrupted(path, "number does not fit Float") }
        return f
    }

    func string(_ at: Int, path: [any CodingKey]) throws -> String {
        let t = try tag(at, path: path)
        guard t == CompactCoding.string else { throw mismatch(String.self, path, found: t) }
        guard let s = String(validating: try payload(at, path: path), as: UTF8.self) else { throw corrupted(path, "string is not UTF-8") }
        return s
    }

    func decode<T: Decodable>(_ type: T.Type, at: Int, path: [any CodingKey]) throws -> T {
        // T is exactly the type named: the bit casts only skip the runtime's dynamic cast.
        if T.self == String.self { return unsafeBitCast(try string(at, path: path), to: T.self) }
        if T.self == Int.self { return unsafeBitCast(try integer(Int.self, at, path: path), to: T.self) }
        if T.self == Double.self { return unsafeBitCast(try double(at, path: path), to: T.self) }
        if T.self == Bool.self { return unsafeBitCast(try bool(at, path: path), to: T.self) }
        if T.self == [UInt8].self || T.self == Data.self, try tag(at, path: path) == CompactCoding.bytes {
            let b = try payload(at, path: path)
            return T.self == Data.self ? Data(b) as! T : Array(b) as! T
        }
        // The arrays `compactDecode` has loops of its own for, found before the conformance lookup
        // below, which costs as much as decoding a short array.
        if T.self == [Int].self { return unsafeBitCast(try [Int].compactDecode(self, at: at, path: path), to: T.self) }
        if T.self == [Int64].self { return unsafeBitCast(try [Int64].compactDecode(self, at: at, path: path), to: T.self) }
        if T.self == [Double].self { return unsafeBitCast(try [Double].compactDecode(self, at: at, path: path), to: T.self) }
        if T.self == [String].self { return unsafeBitCast(try [String].compactDecode(self, at: at, path: path), to: T.self) }
        if T.self == [Bool].self { return unsafeBitCast(try [Bool].compactDecode(self, at: at, path: path), to: T.self) }
        if let array = T.self as? any CompactArrayDecodable.Type { return try array.compactDecode(self, at: at, path: path) as! T }
        return try T(from: CompactDecoderImpl(reader: self, at: at, codingPath: path))
    }
}
