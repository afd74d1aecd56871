import CaskTestSupport
import Foundation
import Testing
@testable import Cask

/// The compact form memoized results are stored in: every shape `Codable` produces comes back
/// equal; a value read as a type it was not written as, cut short or damaged is an error, never a
/// trap and never a wrong value.
@Suite("Compact coding")
struct CompactCodingTests {
    enum Shape: Codable, Equatable { case circle(radius: Double), square(Int), none }
    struct Inner: Codable, Equatable { var id: UInt64; var tags: Set<String>; var when: Date? }
    struct Outer: Codable, Equatable {
        var name: String
        var small: Int8
        var ratio: Float
        var shapes: [Shape]
        var inner: Inner
        var byName: [String: Int]
        var byNumber: [Int: [String]]
        var blob: Data
        var raw: [UInt8]
        var maybe: String?
        var url: URL
        var amount: Decimal
    }
    class Base: Codable { var a = 1; init(a: Int) { self.a = a } }
    final class Derived: Base, @unchecked Sendable {
        var b: String
        init(a: Int, b: String) { self.b = b; super.init(a: a) }
        enum K: CodingKey { case b }
        required init(from decoder: any Decoder) throws {
            b = try decoder.container(keyedBy: K.self).decode(String.self, forKey: .b)
            try super.init(from: try decoder.container(keyedBy: K.self).superDecoder())
        }
        override func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: K.self)
            try c.encode(b, forKey: .b)
            try super.encode(to: c.superEncoder())
        }
    }

    func roundTrip<T: Codable & Equatable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let bytes = try CompactCoding.encode(value)
        #expect(try CompactCoding.decode(T.self, from: bytes[...]) == value, sourceLocation: sourceLocation)
    }

    func sample(_ i: Int) -> Outer {
        Outer(name: "n\(i) é\u{0}\"", small: -128, ratio: 1.5, shapes: [.circle(radius: 2.5), .square(i), .none],
              inner: Inner(id: .max, tags: ["x", "y\(i)"], when: i % 2 == 0 ? nil : Date(timeIntervalSince1970: 1e9)),
              byName: Dictionary(uniqueKeysWithValues: (0..<(i % 40)).map { ("k\($0)", $0) }),
              byNumber: [-1: ["a"], 7: []], blob: Data((0..<UInt8(i % 200)).map { $0 }), raw: [0, 255],
              maybe: i % 3 == 0 ? nil : "m", url: URL(string: "https://example.com/a?b=\(i)")!, amount: Decimal(i) / 7)
    }

    @Test func everyShapeRoundTrips() throws {
        for v in [0, 1, -1, Int.max, Int.min] { try roundTrip(v) }
        for v: UInt64 in [0, .max] { try roundTrip(v) }
        for v in [0.0, -0.0, 1e308, .leastNonzeroMagnitude, .infinity, -.infinity] { try roundTrip(v) }
        try roundTrip(Float.greatestFiniteMagnitude)
        try roundTrip("")
        try roundTrip([String?]([nil, "a"]))
        try roundTrip([[Int]]([[], [1, 2], [3]]))
        try roundTrip(Optional<Int>.none)
        try roundTrip(Optional(5))
        try roundTrip([1, 2, 3] as [Int])
        for i in 0..<60 { try roundTrip(sample(i)) }
        let nan = try CompactCoding.decode(Double.self, from: try CompactCoding.encode(Double.nan)[...])
        #expect(nan.isNaN)
        let derived = try CompactCoding.decode(Derived.self, from: try CompactCoding.encode(Derived(a: 5, b: "q"))[...])
        #expect(derived.a == 5 && derived.b == "q")
    }

    @Test func theLayoutIsPinned() throws {
        // [1, -1] and {"a": true}, byte by byte (the layout in Design.md, memoize, "Results").
        #expect(try CompactCoding.encode([1, -1]) == [0x08, 27, 0, 0, 0, 2, 0, 0, 0, 0x03, 1, 0, 0, 0, 0, 0, 0, 0,
                                                          0x03, 255, 255, 255, 255, 255, 255, 255, 255])
        struct A: Codable { var a: Bool }
        #expect(try CompactCoding.encode(A(a: true)) == [0x09, 15, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0x61, 0x02])
        #expect(try CompactCoding.encode("hé") == [0x06, 3, 0, 0, 0, 0x68, 0xC3, 0xA9])
        #expect(try CompactCoding.encode(Data([9])) == [0x07, 1, 0, 0, 0, 9])
    }

    @Test func anotherTypeIsAnErrorNotAWrongValue() throws {
        let ints = try CompactCoding.encode([1, 2, 3])
        #expect(throws: DecodingError.self) { try CompactCoding.decode(String.self, from: ints[...]) }
        #expect(throws: DecodingError.self) { try CompactCoding.decode([String].self, from: ints[...]) }
        #expect(throws: DecodingError.self) { try CompactCoding.decode([Double: Int].self, from: ints[...]) }
        #expect(throws: DecodingError.self) { try CompactCoding.decode(Inner.self, from: ints[...]) }
        #expect(throws: DecodingError.self) { try CompactCoding.decode([UInt8].self, from: try CompactCoding.encode([1, 256])[...]) }
        #expect(throws: DecodingError.self) { try CompactCoding.decode([UInt].self, from: try CompactCoding.encode([-1])[...]) }
        #expect(throws: DecodingError.self) { try CompactCoding.decode(Int.self, from: try CompactCoding.encode(UInt64.max)[...]) }
        #expect(throws: DecodingError.self) { try CompactCoding.decode(Float.self, from: try CompactCoding.encode(1e300)[...]) }
        struct Renamed: Codable { var other: Int }
        struct Original: Codable { var id: Int }
        #expect(throws: DecodingError.self) { try CompactCoding.decode(Renamed.self, from: try CompactCoding.encode(Original(id: 1))[...]) }
        // Bytes after a whole value are damage too.
        #expect(throws: DecodingError.self) { try CompactCoding.decode(Int.self, from: (try CompactCoding.encode(1) + [0])[...]) }
    }

    @Test func everyCutAndRandomDamageIsAnErrorOrTheSameShape() throws {
        var g = SeededRandom(seed: 3)
        for i in [1, 7, 33] {
            let bytes = try CompactCoding.encode(sample(i))
            for cut in 0..<bytes.count {
                #expect(throws: DecodingError.self) { try CompactCoding.decode(Outer.self, from: bytes[..<cut]) }
            }
            // A slice that does not start at 0 reads the same.
            let shifted = [0xEE] + bytes
            #expect(try CompactCoding.decode(Outer.self, from: shifted[1...]) == sample(i))
            for _ in 0..<3_000 {
                var damaged = bytes
                for _ in 0..<(1 + Int(g.next() % 3)) {
                    damaged[Int(g.next() % UInt64(damaged.count))] = UInt8(truncatingIfNeeded: g.next())
                }
                // Decoding must return (any value: a flipped byte inside a number is still a
                // number) or throw — never trap, never loop.
                _ = try? CompactCoding.decode(Outer.self, from: damaged[...])
                _ = try? CompactCoding.decode([Shape].self, from: damaged[...])
            }
        }
    }

    @Test func primitiveArraysTakeTheirOwnPathWithTheSameBytesAndChecks() throws {
        // Arrays of Int, Int64, Double, String and Bool are encoded and decoded by loops of their
        // own (the memoize hot path): the same bytes as the element-by-element path (an unkeyed
        // container filled one element at a time), the same errors.
        struct Unkeyed<E: Encodable>: Encodable {
            var items: [E]
            func encode(to encoder: any Encoder) throws {
                var c = encoder.unkeyedContainer()
                for x in items { try c.encode(x) }
            }
        }
        struct Boxed<E: Codable>: Codable { var items: [E] }
        func same<E: Codable & Equatable>(_ values: [E]) throws {
            let bytes = try CompactCoding.encode(values)
            #expect(bytes == (try CompactCoding.encode(Unkeyed(items: values))))
            #expect(try CompactCoding.decode([E].self, from: bytes[...]) == values)
            // Nested: the keyed container ends with the same array bytes.
            let boxed = try CompactCoding.encode(Boxed(items: values))
            #expect(Array(boxed.suffix(bytes.count)) == bytes)
            #expect(try CompactCoding.decode(Boxed<E>.self, from: boxed[...]).items == values)
            for cut in 0..<bytes.count {
                #expect(throws: DecodingError.self) { try CompactCoding.decode([E].self, from: bytes[..<cut]) }
            }
        }
        let ints = [0, 1, -1, Int.max, Int.min]
        try same(ints)
        try same(ints.map(Int64.init))
        try same([0.5, -0.0, .infinity, 1e300])
        try same(["", "a", "hé"])
        try same([true, false])
        #expect(try CompactCoding.decode([[Int]].self, from: try CompactCoding.encode([ints, [], [7]])[...]) == [ints, [], [7]])
        #expect(throws: DecodingError.self) { try CompactCoding.decode([Int].self, from: try CompactCoding.encode(["1"])[...]) }
        #expect(throws: DecodingError.self) { try CompactCoding.decode([Int].self, from: try CompactCoding.encode([UInt64.max])[...]) }
        #expect(throws: DecodingError.self) { try CompactCoding.decode([String].self, from: try CompactCoding.encode([1])[...]) }
        #expect(throws: DecodingError.self) { try CompactCoding.decode([Bool].self, from: try CompactCoding.encode([1])[...]) }
        #expect(throws: DecodingError.self) { try CompactCoding.decode([Double].self, from: try CompactCoding.encode(["x"])[...]) }
        #expect(try CompactCoding.decode([Int].self, from: try CompactCoding.encode([UInt64(5)])[...]) == [5])
        #expect(try CompactCoding.decode([Double].self, from: try CompactCoding.encode([2])[...]) == [2.0])
    }

    @Test func aLargeKeyedContainerIsIndexed() throws {
        let big = Dictionary(uniqueKeysWithValues: (0..<5_000).map { ("key\($0)", $0) })
        try roundTrip(big)
        let bigNumbers = Dictionary(uniqueKeysWithValues: (0..<100).map { ($0 - 50, "v\($0)") })
        try roundTrip(bigNumbers)
    }
}
