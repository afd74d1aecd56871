#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension CompactCoding {
    /// Decodes `type` from compact bytes (see ``CompactCoding``), reading them in place.
    /// - Throws: `DecodingError` when the bytes are not a `type` — written as another type, cut
    ///   short or damaged. Never traps on any input.
    static func decode<T: Decodable>(_ type: T.Type, from bytes: ArraySlice<UInt8>) throws -> T {
        let reader = CompactReader(bytes: bytes)
        let at = bytes.startIndex
        guard try reader.end(of: at, path: []) == bytes.endIndex else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "bytes after the value"))
        }
        return try reader.decode(T.self, at: at, path: [])
    }
}

/// Arrays decode their elements straight from the reader: what `Array.init(from:)` does through an
/// unkeyed container, without the container.
protocol CompactArrayDecodable {
    static func compactDecode(_ reader: CompactReader, at: Int, path: [any CodingKey]) throws -> Self
}

extension Array: CompactArrayDecodable where Element: Decodable {
    static func compactDecode(_ reader: CompactReader, at: Int, path: [any CodingKey]) throws -> [Element] {
        let t = try reader.tag(at, path: path)
        guard t == CompactCoding.array else { throw reader.mismatch([Element].self, path, found: t) }
        let end = try reader.end(of: at, path: path)
        let count = try reader.u32(at + 5, path: path)
        let p = at + CompactCoding.containerHeader
        // Every element takes at least a byte.
        guard count <= end - p else { throw reader.corrupted(path, "array count \(count)") }
        // Called through the protocol, so unspecialized: arrays of numbers, strings and Bools (a
        // common memoized result) get loops specialized for them; a generic call per element
        // cost more than the rest of a memoized hit.
        func each<E>(_ element: (Int) throws -> E) throws -> [Element] {
            unsafeBitCast(try compactElements(reader, from: p, to: end, count: count, path: path) { at, _ in try element(at) },
                          to: [Element].self)
        }
        if Element.self == Int.self { return try each { try reader.integer(Int.self, $0, path: path) } }
        if Element.self == Int64.self { return try each { try reader.integer(Int64.self, $0, path: path) } }
        if Element.self == Double.self { return try each { try reader.double($0, path: path) } }
        if Element.self == String.self { return try each { try reader.string($0, path: path) } }
        if Element.self == Bool.self { return try each { try reader.bool($0, path: path) } }
        let primitive = CompactReader.isPrimitive(Element.self)
        return try compactElements(reader, from: p, to: end, count: count, path: path) { at, i in
            try reader.decode(Element.self, at: at, path: primitive ? path : CompactIndexKey.path(path, i))
        }
    }
}

/// The `count` array elements starting at `start`, each decoded by `element(offset, index)`; none
/// may reach past `end`. Outside the generic `Array` extension, so that the calls for the element
/// types named there are specialized whole.
private func compactElements<E>(_ reader: CompactReader, from start: Int, to end: Int, count: Int, path: [any CodingKey],
                                _ element: (Int, Int) throws -> E) throws -> [E] {
    var out: [E] = []
    out.reserveCapacity(count)
    var p = start
    for i in 0..<count {
        out.append(try element(p, i))
        p = try reader.end(of: p, path: path)
        guard p <= end else { throw reader.corrupted(path, "element cut short") }
    }
    return out
}

struct CompactDecoderImpl: Decoder {
    let reader: CompactReader
    let at: Int
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(try CompactKeyedDecoding<Key>(reader: reader, at: at, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try CompactUnkeyedDecoding(reader: reader, at: at, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        CompactSingleValueDecoding(reader: reader, at: at, codingPath: codingPath)
    }
}

/// A decoder for a key that is absent (a `superDecoder` with nothing written under `super`).
let compactNil = CompactReader(bytes: [CompactCoding.null][...])

struct CompactKeyedDecoding<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let reader: CompactReader
    let codingPath: [any CodingKey]
    let count: Int
    let first: Int
    let end: Int
    /// Key → value offset, for containers too large to search entry by entry.
    let index: [String: Int]?

    init(reader: CompactReader, at: Int, codingPath: [any CodingKey]) throws {
        let t = try reader.tag(at, path: codingPath)
        guard t == CompactCoding.keyed else { throw reader.mismatch([String: Any].self, codingPath, found: t) }
        self.reader = reader
        self.codingPath = codingPath
        end = try reader.end(of: at, path: codingPath)
        count = try reader.u32(at + 5, path: codingPath)
        first = at + CompactCoding.containerHeader
        // Every entry takes at least 5 bytes: a count beyond that is damage, not a loop to run.
        guard count <= (end - first) / 5 else { throw reader.corrupted(codingPath, "keyed count \(count)") }
        if count > 16 {
            var index: [String: Int] = [:]
            try Self.walk(reader, first, count, end, codingPath) { key, value in
                index[String(decoding: key, as: UTF8.self)] = value
                return false
            }
            self.index = index
        } else {
            index = nil
        }
    }

    /// Calls `visit` with each entry's key bytes and value offset until it returns true.
    static func walk(_ reader: CompactReader, _ first: Int, _ count: Int, _ end: Int, _ path: [any CodingKey],
                     _ visit: (ArraySlice<UInt8>, Int) throws -> Bool) throws {
        var p = first
        for _ in 0..<count {
            let n = try reader.u32(p, path: path)
            let value = p + 4 + n
            guard value < end else { throw reader.corrupted(path, "keyed entry cut short") }
            if try visit(reader.bytes[(p + 4)..<value], value) { return }
            p = try reader.end(of: value, path: path)
            guard p <= end else { throw reader.corrupted(path, "keyed entry cut short") }
        }
    }

    func find(_ key: Key) throws -> Int? {
        let name = key.stringValue
        if let index { return index[name] }
        var found: Int?
        try Self.walk(reader, first, count, end, codingPath) { k, value in
            guard k.elementsEqual(name.utf8) else { return false }
            found = value
            return true
        }
        return found
    }

    func value(_ key: Key) throws -> Int {
        guard let at = try find(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no value for \(key.stringValue)"))
        }
        return at
    }

    var allKeys: [Key] {
        var keys: [Key] = []
        try? Self.walk(reader, first, count, end, codingPath) { k, _ in
            if let key = Key(stringValue: String(decoding: k, as: UTF8.self)) { keys.append(key) }
            return false
        }
        return keys
    }

    func contains(_ key: Key) -> Bool { (try? find(key)) != nil }

    func decodeNil(forKey key: Key) throws -> Bool { try reader.isNil(value(key), path: codingPath + [key]) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try reader.bool(value(key), path: codingPath + [key]) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try reader.string(value(key), path: codingPath + [key]) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try reader.double(value(key), path: codingPath + [key]) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try reader.float(value(key), path: codingPath + [key]) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try int(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try int(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try int(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try int(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try int(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try int(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try int(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try int(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try int(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try int(type, key) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try reader.decode(T.self, at: value(key), path: codingPath + [key])
    }

    func int<T: FixedWidthInteger>(_ type: T.Type, _ key: Key) throws -> T {
        try reader.integer(T.self, value(key), path: codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        KeyedDecodingContainer(try CompactKeyedDecoding<NestedKey>(reader: reader, at: value(key), codingPath: codingPath + [key]))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try CompactUnkeyedDecoding(reader: reader, at: value(key), codingPath: codingPath + [key])
    }

    func superDecoder() throws -> any Decoder {
        var at: Int?
        try Self.walk(reader, first, count, end, codingPath) { k, v in
            guard k.elementsEqual("super".utf8) else { return false }
            at = v
            return true
        }
        let path = codingPath + [CompactSuperKey()]
        guard let at else { return CompactDecoderImpl(reader: compactNil, at: 0, codingPath: path) }
        return CompactDecoderImpl(reader: reader, at: at, codingPath: path)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        guard let at = try find(key) else { return CompactDecoderImpl(reader: compactNil, at: 0, codingPath: codingPath + [key]) }
        return CompactDecoderImpl(reader: reader, at: at, codingPath: codingPath + [key])
    }
}

struct CompactUnkeyedDecoding: UnkeyedDecodingContainer {
    let reader: CompactReader
    let codingPath: [any CodingKey]
    let count: Int?
    var currentIndex = 0
    var position: Int
    let end: Int

    init(reader: CompactReader, at: Int, codingPath: [any CodingKey]) throws {
        let t = try reader.tag(at, path: codingPath)
        guard t == CompactCoding.array else { throw reader.mismatch([Any].self, codingPath, found: t) }
        self.reader = reader
        self.codingPath = codingPath
        end = try reader.end(of: at, path: codingPath)
        let n = try reader.u32(at + 5, path: codingPath)
        position = at + CompactCoding.containerHeader
        // Every element takes at least a byte.
        guard n <= end - position else { throw reader.corrupted(codingPath, "array count \(n)") }
        count = n
    }

    var isAtEnd: Bool { currentIndex >= count! }

    /// Reads the next element with `body` (given its offset and index) and moves past it only if
    /// that succeeds. Errors in a primitive element carry the container's path.
    mutating func next<R>(_ type: Any.Type, _ body: (Int, Int) throws -> R) throws -> R {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: CompactIndexKey.path(codingPath, currentIndex),
                                                          debugDescription: "no elements left"))
        }
        let r = try body(position, currentIndex)
        let after = try reader.end(of: position, path: codingPath)
        guard after <= end else { throw reader.corrupted(codingPath, "element cut short") }
        position = after
        currentIndex += 1
        return r
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, try reader.isNil(position, path: codingPath) else { return false }
        return try next(Never.self) { _, _ in true }
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next(type) { [reader, codingPath] at, _ in try reader.bool(at, path: codingPath) } }
    mutating func decode(_ type: String.Type) throws -> String { try next(type) { [reader, codingPath] at, _ in try reader.string(at, path: codingPath) } }
    mutating func decode(_ type: Double.Type) throws -> Double { try next(type) { [reader, codingPath] at, _ in try reader.double(at, path: codingPath) } }
    mutating func decode(_ type: Float.Type) throws -> Float { try next(type) { [reader, codingPath] at, _ in try reader.float(at, path: codingPath) } }
    mutating func decode(_ type: Int.Type) throws -> Int { try int(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try int(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try int(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try int(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try int(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try int(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try int(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try int(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try int(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try int(type) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try next(type) { [reader, codingPath] at, i in
            // A primitive's errors carry the container's path: no path is built per element.
            try reader.decode(T.self, at: at, path: CompactReader.isPrimitive(T.self) ? codingPath : CompactIndexKey.path(codingPath, i))
        }
    }

    mutating func int<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        try next(type) { [reader, codingPath] at, _ in try reader.integer(T.self, at, path: codingPath) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next(type) { [reader, codingPath] at, i in
            KeyedDecodingContainer(try CompactKeyedDecoding<NestedKey>(reader: reader, at: at, codingPath: CompactIndexKey.path(codingPath, i)))
        }
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try next([Any].self) { [reader, codingPath] at, i in
            try CompactUnkeyedDecoding(reader: reader, at: at, codingPath: CompactIndexKey.path(codingPath, i))
        }
    }

    mutating func superDecoder() throws -> any Decoder {
        try next((any Decoder).self) { [reader, codingPath] at, i in
            CompactDecoderImpl(reader: reader, at: at, codingPath: CompactIndexKey.path(codingPath, i))
        }
    }
}

struct CompactSingleValueDecoding: SingleValueDecodingContainer {
    let reader: CompactReader
    let at: Int
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { (try? reader.isNil(at, path: codingPath)) ?? false }
    func decode(_ type: Bool.Type) throws -> Bool { try reader.bool(at, path: codingPath) }
    func decode(_ type: String.Type) throws -> String { try reader.string(at, path: codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try reader.double(at, path: codingPath) }
    func decode(_ type: Float.Type) throws -> Float { try reader.float(at, path: codingPath) }
    func decode(_ type: Int.Type) throws -> Int { try reader.integer(type, at, path: codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try reader.integer(type, at, path: codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try reader.integer(type, at, path: codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try reader.integer(type, at, path: codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try reader.integer(type, at, path: codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try reader.integer(type, at, path: codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try reader.integer(type, at, path: codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try reader.integer(type, at, path: codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try reader.integer(type, at, path: codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try reader.integer(type, at, path: codingPath) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try reader.decode(T.self, at: at, path: codingPath) }
}
