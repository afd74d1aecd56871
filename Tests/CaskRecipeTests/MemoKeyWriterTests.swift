import CaskTestSupport
import Foundation
import Testing
@testable import Cask

/// The key writer must give exactly the bytes `JSONEncoder` gives (``MemoCallKey``), or results
/// stored by earlier releases are no longer found. Each kind of value it writes itself is compared
/// with the encoder's output here.
@Suite("Memoize key writer")
struct MemoKeyWriterTests {
    func viaEncoder<P: Encodable>(_ w: MemoKeyWriter, _ part: P) throws -> [UInt8] {
        try MemoCallKey.bytes(name: w.name, version: w.version, type: w.typeName, part: part)
    }

    func expectSame<P: Encodable>(_ part: P, _ w: MemoKeyWriter = MemoKeyWriter(name: "f", version: "1", typeName: nil),
                                  sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fast = try w.key(part)
        let slow = try viaEncoder(w, part)
        #expect(fast == slow, "\(String(decoding: fast, as: UTF8.self)) vs \(String(decoding: slow, as: UTF8.self))",
                sourceLocation: sourceLocation)
    }

    @Test func integersAtTheirLimits() throws {
        for v in [0, 1, -1, 9, 10, -10, 99, 100, Int.max, Int.min, Int.max - 1, Int.min + 1, 1_000_000_007] { try expectSame(v) }
        for v: Int8 in [.min, .max, 0, -1] { try expectSame(v) }
        for v: Int16 in [.min, .max, 0] { try expectSame(v) }
        for v: Int32 in [.min, .max, 0] { try expectSame(v) }
        for v: Int64 in [.min, .max, 0] { try expectSame(v) }
        for v: UInt in [.max, 0, 10] { try expectSame(v) }
        for v: UInt8 in [.max, 0] { try expectSame(v) }
        for v: UInt16 in [.max, 0] { try expectSame(v) }
        for v: UInt32 in [.max, 0] { try expectSame(v) }
        for v: UInt64 in [.max, 0, 1 << 63] { try expectSame(v) }
        var g = SeededRandom(seed: 7)
        for _ in 0..<2_000 { try expectSame(Int(bitPattern: UInt(g.next()))); try expectSame(g.next() >> (g.next() % 64)) }
    }

    @Test func everyScalarBelow0x800AndRandomText() throws {
        // Each scalar alone, and inside text, as the argument and as the name, version and type.
        for v in 0..<0x800 {
            let s = String(Character(Unicode.Scalar(v)!))
            try expectSame(s)
            try expectSame("a\(s)b/\\")
            try expectSame(1, MemoKeyWriter(name: "n\(s)", version: "v\(s)", typeName: "t\(s)"))
        }
        let specials: [Unicode.Scalar] = ["\u{2028}", "\u{2029}", "\u{FEFF}", "\u{FFFF}", "\u{10FFFF}", "\u{1F600}", "\u{7F}", "\u{D7FF}"]
        for s in specials { try expectSame("x\(s)y") }
        var g = SeededRandom(seed: 11)
        for _ in 0..<2_000 {
            var text = ""
            for _ in 0..<Int(g.next() % 12) {
                let pick = g.next() % 4
                let v: UInt32 = pick == 0 ? UInt32(g.next() % 0x80) : pick == 1 ? UInt32(g.next() % 0x20) : UInt32(g.next() % 0x11_0000)
                if let u = Unicode.Scalar(v) { text.unicodeScalars.append(u) }
            }
            try expectSame(text)
            try expectSame([text, text + "\""])
        }
    }

    @Test func boolsArraysAndArgumentLists() throws {
        try expectSame(true)
        try expectSame(false)
        try expectSame([Int]())
        try expectSame([1, -2, 3])
        try expectSame(["a", "b\n"])
        try expectSame([[1], [], [2, 3]])
        try expectSame([true, false])
        try expectSame([UInt8](arrayLiteral: 0, 255))
        let w = MemoKeyWriter(name: "g", version: "", typeName: "(Swift.Int, Swift.String)")
        let lists: [[any Encodable]] = [[], [1, "x"], [true, [1, 2], "q\"", UInt64.max], [Int8(-3), [["a"]]]]
        for list in lists {
            #expect(try w.key(list: list) == viaEncoder(w, ArgumentList(values: list)))
        }
    }

    @Test func valuesWithoutAFastPathGoThroughTheEncoder() throws {
        // Whatever the writer does not write itself must still come out as the encoder's bytes.
        struct Item: Codable { var b: Int; var a: String? }
        try expectSame(1.5)
        try expectSame(Optional<Int>.none)
        try expectSame(Optional(3))
        try expectSame(Optional([1, 2]))
        try expectSame(Optional<[Int]>.none)
        try expectSame([Optional(1), nil])
        try expectSame(Item(b: 1, a: "z"))
        try expectSame(Set([3, 1, 2]))
        try expectSame([2: "b", 1: "a"])
        try expectSame([1.0, 2.5])
        try expectSame(Data([1, 2, 3]))
        let w = MemoKeyWriter(name: "g", version: "", typeName: nil)
        let mixed: [any Encodable] = [1, 2.5, Optional<String>.none as String?, Item(b: 2, a: nil)]
        #expect(try w.key(list: mixed) == viaEncoder(w, ArgumentList(values: mixed)))
        // A version too long to store is refused either way.
        let long = MemoKeyWriter(name: "g", version: String(repeating: "v", count: 70_000), typeName: nil)
        #expect(throws: CaskError.self) { try long.key(1) }
    }
}
