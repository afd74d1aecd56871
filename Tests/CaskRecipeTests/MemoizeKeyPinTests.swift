import CaskTestSupport
import Foundation
import Testing
@testable import Cask

/// The exact key bytes of one-argument calls, written out: results stored by earlier releases are
/// found only while these bytes stay the same.
@Suite("Memoize key bytes")
struct MemoizeKeyPinTests {
    struct Item: Codable, Sendable { var name: String; var sizes: [Int]; var note: String? }

    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func oneArgumentKeysArePinned() throws {
        let f = try makeCache()
        let int = f.cache.memoize(name: "i", version: "3") { (x: Int) in x }
        #expect(text(try int.key(for: -7)) == #"j{"fn":"i","v":"3","x":-7}"#)
        let string = f.cache.memoize(name: "a/b") { (s: String) in s }
        #expect(text(try string.key(for: "x/\"y\"")) == #"j{"fn":"a/b","v":"","x":"x/\"y\""}"#)
        let double = f.cache.memoize(name: "d") { (x: Double) in x }
        #expect(text(try double.key(for: 1.5)) == #"j{"fn":"d","v":"","x":1.5}"#)
        let optional = f.cache.memoize(name: "o") { (x: Int?) in x ?? 0 }
        #expect(text(try optional.key(for: nil)) == #"j{"fn":"o","v":"","x":null}"#)
        let array = f.cache.memoize(name: "arr") { (x: [Int]) in x.count }
        #expect(text(try array.key(for: [2, 1])) == #"j{"fn":"arr","v":"","x":[2,1]}"#)
        let item = f.cache.memoize(name: "item", version: "2") { (x: Item) in x.name }
        #expect(text(try item.key(for: Item(name: "n", sizes: [3], note: nil)))
                == #"j{"fn":"item","v":"2","x":{"name":"n","sizes":[3]}}"#)
        let async = f.cache.memoize(name: "load") { (x: Int) async throws -> Int in x }
        #expect(text(try async.key(for: 42)) == #"j{"fn":"load","v":"","x":42}"#)
        let partial = f.cache.memoize(name: "q", keyedBy: { (x: Item) in x.name }) { x in x.sizes }
        #expect(text(try partial.key(for: Item(name: "n", sizes: [], note: "z"))) == #"j{"fn":"q","v":"","x":"n"}"#)
    }

    @Test func typedOneArgumentKeysArePinned() throws {
        let f = try makeCache()
        let int = f.cache.memoize(name: "t", typed: true) { (x: Int) in x }
        #expect(text(try int.key(for: 1)) == #"j{"fn":"t","t":"Swift.Int","v":"","x":1}"#)
        let double = f.cache.memoize(name: "t", typed: true) { (x: Double) in x }
        #expect(text(try double.key(for: 1)) == #"j{"fn":"t","t":"Swift.Double","v":"","x":1}"#)
    }
}
