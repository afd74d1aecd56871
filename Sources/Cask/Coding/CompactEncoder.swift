#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Cask's compact binary form of a `Codable` value: what memoized results are stored as (envelope
/// result encoding 5), so that a hit decodes without parsing text. Self-describing, so that a value
/// read as a type it was not written as fails to decode (and the call computes again) instead of
/// producing a wrong value. Every value starts with a tag byte; integers little-endian:
///
/// ```
/// 0x00 nil            0x01 false          0x02 true
/// 0x03 i64 (8)        0x04 u64 (8)        0x05 f64 bit pattern (8)
/// 0x06 string: u32 length, UTF-8          0x07 bytes: u32 length, the bytes (Data, [UInt8])
/// 0x08 array: u32 size, u32 count, the elements
/// 0x09 keyed: u32 size, u32 count, then per entry u32 key length, key (UTF-8), the value
/// ```
///
/// `size` is the whole value's length in bytes, tag included, so a reader skips a value without
/// reading into it. Signed integers are written as i64, unsigned ones as u64; a reader takes either
/// for any integer type the value fits in. `Float` is written as f64 (exactly). Unlike JSON, a
/// non-finite `Double` is representable.
enum CompactCoding {
    static let null: UInt8 = 0x00
    static let falseTag: UInt8 = 0x01
    static let trueTag: UInt8 = 0x02
    static let int: UInt8 = 0x03
    static let uint: UInt8 = 0x04
    static let double: UInt8 = 0x05
    static let string: UInt8 = 0x06
    static let bytes: UInt8 = 0x07
    static let array: UInt8 = 0x08
    static let keyed: UInt8 = 0x09
    /// Tag, u32 size, u32 count.
    static let containerHeader = 9

    /// The compact bytes of `value`.
    /// - Throws: `EncodingError` from the value's own `encode(to:)`.
    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        var out: [UInt8] = []
        // An array of numbers, strings or Bools (a common memoized result) is written without a
        // node per element (the same bytes).
        if let items = CompactNode.primitiveItems(value) {
            out.reserveCapacity(containerHeader + 9 * items.count)
            let start = CompactNode.openContainer(array, count: items.count, in: &out)
            for item in items { item.write(to: &out) }
            CompactNode.closeContainer(start, in: &out)
            return out
        }
        try CompactNode.of(value, path: []).write(to: &out)
        return out
    }
}

/// A value being encoded. Containers are objects, so that a nested container handed out before
/// its parent is finished is filled in place.
enum CompactNode {
    case null, bool(Bool), int(Int64), uint(UInt64), double(Double), string(String), bytes([UInt8])
    case array(CompactArray)
    case keyed(CompactKeyed)
    /// A value encoded through a `superEncoder`, known only once that encoder is done.
    case slot(CompactSlot)

    static func of<T: Encodable>(_ value: T, path: [any CodingKey]) throws -> CompactNode {
        if T.self == Int.self { return .int(Int64(value as! Int)) }
        if T.self == String.self { return .string(value as! String) }
        if T.self == Double.self { return .double(value as! Double) }
        if T.self == Bool.self { return .bool(value as! Bool) }
        if T.self == [UInt8].self { return .bytes(value as! [UInt8]) }
        if T.self == Data.self { return .bytes(Array(value as! Data)) }
        if let array = value as? any CompactArrayEncodable { return try array.compactNode(path: path) }
        let slot = CompactSlot()
        try value.encode(to: CompactEncoderImpl(slot: slot, codingPath: path))
        return slot.node
    }

    func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(CompactCoding.null)
        case .bool(let b): out.append(b ? CompactCoding.trueTag : CompactCoding.falseTag)
        case .int(let v): out.append(CompactCoding.int); Self.append64(UInt64(bitPattern: v), to: &out)
        case .uint(let v): out.append(CompactCoding.uint); Self.append64(v, to: &out)
        case .double(let v): out.append(CompactCoding.double); Self.append64(v.bitPattern, to: &out)
        case .string(let s):
            out.append(CompactCoding.string)
            var s = s
            s.withUTF8 { u in
                Self.append32(u.count, to: &out)
                out.append(contentsOf: u)
            }
        case .bytes(let b):
            out.append(CompactCoding.bytes)
            Self.append32(b.count, to: &out)
            out += b
        case .array(let a):
            let start = Self.openContainer(CompactCoding.array, count: a.items.count, in: &out)
            for item in a.items { item.write(to: &out) }
            Self.closeContainer(start, in: &out)
        case .keyed(let k):
            let start = Self.openContainer(CompactCoding.keyed, count: k.keys.count, in: &out)
            for (key, value) in zip(k.keys, k.values) {
                Self.append32(key.utf8.count, to: &out)
                out += key.utf8
                value.write(to: &out)
            }
            Self.closeContainer(start, in: &out)
        case .slot(let s): s.node.write(to: &out)
        }
    }

    /// The elements of `value` as nodes if it is an array of `Int`, `Int64`, `Double`, `String` or
    /// `Bool`, by loops specialized for each: the generic path (a type check and a cast per
    /// element, unspecialized) cost more than the rest of storing a memoized result. Nil otherwise.
    static func primitiveItems<T>(_ value: T) -> [CompactNode]? {
        if T.self == [Int].self { return unsafeBitCast(value, to: [Int].self).map { .int(Int64($0)) } }
        if T.self == [Int64].self { return unsafeBitCast(value, to: [Int64].self).map { .int($0) } }
        if T.self == [Double].self { return unsafeBitCast(value, to: [Double].self).map { .double($0) } }
        if T.self == [String].self { return unsafeBitCast(value, to: [String].self).map { .string($0) } }
        if T.self == [Bool].self { return unsafeBitCast(value, to: [Bool].self).map { .bool($0) } }
        return nil
    }

    static func openContainer(_ tag: UInt8, count: Int, in out: inout [UInt8]) -> Int {
        let start = out.count
        out.append(tag)
        append32(0, to: &out)
        append32(count, to: &out)
        return start
    }

    /// Writes the container's size, now that its elements are written.
    static func closeContainer(_ start: Int, in out: inout [UInt8]) {
        let size = UInt32(truncatingIfNeeded: out.count - start)
        for i in 0..<4 { out[start + 1 + i] = UInt8(truncatingIfNeeded: size >> (8 * UInt32(i))) }
    }

    static func append32(_ v: Int, to out: inout [UInt8]) {
        let v = UInt32(truncatingIfNeeded: v)
        for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
    }

    static func append64(_ v: UInt64, to out: inout [UInt8]) {
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }
}

/// Arrays encode their elements straight into a node: what `Array.encode(to:)` does through an
/// unkeyed container (the same bytes), without the container.
protocol CompactArrayEncodable {
    func compactNode(path: [any CodingKey]) throws -> CompactNode
}

extension Array: CompactArrayEncodable where Element: Encodable {
    func compactNode(path: [any CodingKey]) throws -> CompactNode {
        let array = CompactArray()
        // Called through the protocol, so unspecialized.
        if let items = CompactNode.primitiveItems(self) {
            array.items = items
            return .array(array)
        }
        array.items.reserveCapacity(count)
        let primitive = CompactReader.isPrimitive(Element.self)
        for i in indices {
            array.items.append(try CompactNode.of(self[i], path: primitive ? path : CompactIndexKey.path(path, i)))
        }
        return .array(array)
    }
}

final class CompactSlot {
    var node: CompactNode = .null
}

final class CompactArray {
    var items: [CompactNode] = []
}

final class CompactKeyed {
    var keys: [String] = []
    var values: [CompactNode] = []

    /// Sets `key` (a key encoded twice keeps its place and takes the last value).
    func set(_ key: String, _ node: CompactNode) {
        if let i = keys.firstIndex(of: key) { values[i] = node } else { keys.append(key); values.append(node) }
    }
}

struct CompactEncoderImpl: Encoder {
    let slot: CompactSlot
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let object: CompactKeyed
        if case .keyed(let existing) = slot.node {
            object = existing
        } else {
            object = CompactKeyed()
            slot.node = .keyed(object)
        }
        return KeyedEncodingContainer(CompactKeyedEncoding<Key>(object: object, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let array: CompactArray
        if case .array(let existing) = slot.node {
            array = existing
        } else {
            array = CompactArray()
            slot.node = .array(array)
        }
        return CompactUnkeyedEncoding(array: array, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        CompactSingleValueEncoding(slot: slot, codingPath: codingPath)
    }
}

/// The key a `superEncoder()` writes under (as JSON does).
struct CompactSuperKey: CodingKey {
    var stringValue: String { "super" }
    var intValue: Int? { nil }
    init() {}
    init?(stringValue: String) { nil }
    init?(intValue: Int) { nil }
}

/// An index in an unkeyed container, for coding paths.
struct CompactIndexKey: CodingKey {
    let index: Int
    var stringValue: String { "Index \(index)" }
    var intValue: Int? { index }
    init(_ index: Int) { self.index = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { index = intValue }

    /// `path` with this index appended.
    static func path(_ path: [any CodingKey], _ index: Int) -> [any CodingKey] { path + [CompactIndexKey(index)] }
}

struct CompactKeyedEncoding<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let object: CompactKeyed
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { object.set(key.stringValue, .null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { object.set(key.stringValue, .bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { object.set(key.stringValue, .string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { object.set(key.stringValue, .double(value)) }
    mutating func encode(_ value: Float, forKey key: Key) throws { object.set(key.stringValue, .double(Double(value))) }
    mutating func encode(_ value: Int, forKey key: Key) throws { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { object.set(key.stringValue, .int(value)) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { object.set(key.stringValue, .uint(UInt64(value))) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { object.set(key.stringValue, .uint(UInt64(value))) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { object.set(key.stringValue, .uint(UInt64(value))) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { object.set(key.stringValue, .uint(UInt64(value))) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { object.set(key.stringValue, .uint(value)) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        object.set(key.stringValue, try CompactNode.of(value, path: codingPath + [key]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = CompactKeyed()
        object.set(key.stringValue, .keyed(nested))
        return KeyedEncodingContainer(CompactKeyedEncoding<NestedKey>(object: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = CompactArray()
        object.set(key.stringValue, .array(nested))
        return CompactUnkeyedEncoding(array: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { superEncoder(named: CompactSuperKey()) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(named: key) }

    func superEncoder(named key: some CodingKey) -> any Encoder {
        let slot = CompactSlot()
        object.set(key.stringValue, .slot(slot))
        return CompactEncoderImpl(slot: slot, codingPath: codingPath + [key])
    }
}

struct CompactUnkeyedEncoding: UnkeyedEncodingContainer {
    let array: CompactArray
    let codingPath: [any CodingKey]
    var count: Int { array.items.count }

    mutating func encodeNil() throws { array.items.append(.null) }
    mutating func encode(_ value: Bool) throws { array.items.append(.bool(value)) }
    mutating func encode(_ value: String) throws { array.items.append(.string(value)) }
    mutating func encode(_ value: Double) throws { array.items.append(.double(value)) }
    mutating func encode(_ value: Float) throws { array.items.append(.double(Double(value))) }
    mutating func encode(_ value: Int) throws { array.items.append(.int(Int64(value))) }
    mutating func encode(_ value: Int8) throws { array.items.append(.int(Int64(value))) }
    mutating func encode(_ value: Int16) throws { array.items.append(.int(Int64(value))) }
    mutating func encode(_ value: Int32) throws { array.items.append(.int(Int64(value))) }
    mutating func encode(_ value: Int64) throws { array.items.append(.int(value)) }
    mutating func encode(_ value: UInt) throws { array.items.append(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt8) throws { array.items.append(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt16) throws { array.items.append(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt32) throws { array.items.append(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt64) throws { array.items.append(.uint(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        array.items.append(try CompactNode.of(value, path: codingPath + [CompactIndexKey(count)]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = CompactKeyed()
        let path = codingPath + [CompactIndexKey(count)]
        array.items.append(.keyed(nested))
        return KeyedEncodingContainer(CompactKeyedEncoding<NestedKey>(object: nested, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = CompactArray()
        let path = codingPath + [CompactIndexKey(count)]
        array.items.append(.array(nested))
        return CompactUnkeyedEncoding(array: nested, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let slot = CompactSlot()
        let path = codingPath + [CompactIndexKey(count)]
        array.items.append(.slot(slot))
        return CompactEncoderImpl(slot: slot, codingPath: path)
    }
}

struct CompactSingleValueEncoding: SingleValueEncodingContainer {
    let slot: CompactSlot
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { slot.node = .null }
    mutating func encode(_ value: Bool) throws { slot.node = .bool(value) }
    mutating func encode(_ value: String) throws { slot.node = .string(value) }
    mutating func encode(_ value: Double) throws { slot.node = .double(value) }
    mutating func encode(_ value: Float) throws { slot.node = .double(Double(value)) }
    mutating func encode(_ value: Int) throws { slot.node = .int(Int64(value)) }
    mutating func encode(_ value: Int8) throws { slot.node = .int(Int64(value)) }
    mutating func encode(_ value: Int16) throws { slot.node = .int(Int64(value)) }
    mutating func encode(_ value: Int32) throws { slot.node = .int(Int64(value)) }
    mutating func encode(_ value: Int64) throws { slot.node = .int(value) }
    mutating func encode(_ value: UInt) throws { slot.node = .uint(UInt64(value)) }
    mutating func encode(_ value: UInt8) throws { slot.node = .uint(UInt64(value)) }
    mutating func encode(_ value: UInt16) throws { slot.node = .uint(UInt64(value)) }
    mutating func encode(_ value: UInt32) throws { slot.node = .uint(UInt64(value)) }
    mutating func encode(_ value: UInt64) throws { slot.node = .uint(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { slot.node = try CompactNode.of(value, path: codingPath) }
}
