import CaskTestSupport
import Foundation
import Testing
@testable import Cask

/// A dictionary key that is neither a string nor an integer: `Dictionary` encodes such a
/// dictionary as a flat array of keys and values, in its own iteration order.
struct Point: Codable, Hashable, Sendable { var x: Int; var y: Int }

struct Composite: Codable, Sendable {
    var name: String
    var ids: [Int]
    var scores: [String: Double]
    var byNumber: [Int: String]
    var nested: [Report]
    var note: String?
    var when: Date
    var blob: Data
    var link: URL
    var ratio: Double
}

@Suite("Memoize keys")
struct MemoizeKeyTests {
    /// Two equal sets of different capacities iterate in different orders; their keys must not differ.
    @Test func setArgumentsHaveOneKey() throws {
        let f = try makeCache()
        let small = Set((0..<200).map { "item-\($0)" })
        var large = Set<String>(minimumCapacity: 5_000)
        for s in small { large.insert(s) }
        try #require(small == large)
        try #require(Array(small) != Array(large), "the two sets must iterate differently for this test to mean anything")
        let f1 = f.cache.memoize(name: "sets") { (s: Set<String>) in s.count }
        #expect(String(decoding: try f1.key(for: small), as: UTF8.self) == String(decoding: try f1.key(for: large), as: UTF8.self))
        // Sorted by the elements' encoded bytes.
        let three: Set<String> = ["b", "a", "c"]
        #expect(String(decoding: try f1.key(for: three), as: UTF8.self) == #"j{"fn":"sets","v":"","x":["a","b","c"]}"#)
    }

    @Test func setsNestedInStructsAndDictionariesWithStructKeys() throws {
        let f = try makeCache()
        struct Args: Codable, Sendable { var tags: Set<Int>; var points: [Point: String]; var groups: [String: Set<Int>] }
        let ints = Set(0..<300)
        var bigInts = Set<Int>(minimumCapacity: 10_000)
        for i in ints { bigInts.insert(i) }
        var points: [Point: String] = [:]
        var bigPoints = [Point: String](minimumCapacity: 10_000)
        for i in 0..<100 { points[Point(x: i, y: -i)] = "p\(i)" }
        for (k, v) in points { bigPoints[k] = v }
        try #require(Array(points.keys) != Array(bigPoints.keys))
        let g = f.cache.memoize(name: "args") { (a: Args) in a.tags.count }
        let k1 = String(decoding: try g.key(for: Args(tags: ints, points: points, groups: ["g": ints])), as: UTF8.self)
        let k2 = String(decoding: try g.key(for: Args(tags: bigInts, points: bigPoints, groups: ["g": bigInts])), as: UTF8.self)
        #expect(k1 == k2)
        // The dictionary keeps Dictionary's own layout (key, value, key, value), ordered by key bytes.
        let two: [Point: String] = [Point(x: 2, y: 0): "b", Point(x: 1, y: 0): "a"]
        let h = f.cache.memoize(name: "pts") { (p: [Point: String]) in p.count }
        #expect(String(decoding: try h.key(for: two), as: UTF8.self)
                == #"j{"fn":"pts","v":"","x":[{"x":1,"y":0},"a",{"x":2,"y":0},"b"]}"#)
    }

    /// Keys of arguments that were canonical before are byte for byte what plain sorted-key JSON gives,
    /// so results stored by earlier versions still hit.
    @Test func canonicalArgumentsKeepTheirBytes() throws {
        let f = try makeCache()
        let value = Composite(name: "a/b \"q\" é\n", ids: [3, 1, 2], scores: ["z": 1.5, "a": 0.1, "M": -2],
                              byNumber: [10: "ten", 2: "two", 1: "one"], nested: [Report(id: 1, title: "t")], note: nil,
                              when: Date(timeIntervalSince1970: 1_767_258_000.25), blob: Data([0, 1, 254, 255]),
                              link: URL(string: "https://example.com/a?b=c")!, ratio: 1e-7)
        struct Legacy<X: Encodable>: Encodable { var fn: String; var v: String; var x: X }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let legacy = [0x6A] + Array(try encoder.encode(Legacy(fn: "c", v: "7", x: value)))
        let c = f.cache.memoize(name: "c", version: "7") { (x: Composite) in x.name }
        #expect(try c.key(for: value) == legacy)
        let d = f.cache.memoize(name: "c", version: "7") { (x: Double) in x }
        #expect(try d.key(for: 2.5) == [0x6A] + Array(try encoder.encode(Legacy(fn: "c", v: "7", x: 2.5))))
        #expect { try d.key(for: .nan) } throws: { ($0 as? CaskError)?.code == .invalidArgument }
        #expect { try f.cache.memoize(name: "s") { (s: Set<Double>) in s.count }.key(for: [1, .nan]) }
            throws: { ($0 as? CaskError)?.code == .invalidArgument }
    }
}
