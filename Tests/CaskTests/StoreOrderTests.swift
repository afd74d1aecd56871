import CaskTestSupport
import Foundation
import Testing
@testable import Cask

/// Keys list in the order they were stored, even when every store happens within the same
/// microsecond (a frozen clock, or one `set(many:)`), across shards and across handles.
@Suite("Store order")
struct StoreOrderTests {
    static let letters = "abcdefghijkl".map { String($0) }
    static var expected: [StoredKey] { letters.map { StoredKey.string($0) } }

    @Test func keysUnderAFrozenClockListInStoreOrder() throws {
        let fixture = try makeCache()
        for k in Self.letters { try fixture.cache.set(k, 1) }
        #expect(try fixture.cache.keys() == Self.expected)
        #expect(try fixture.cache.keys(reversed: true) == Self.expected.reversed())
        #expect(try fixture.cache.peekItem()?.key == .string("l"))
        #expect(try fixture.cache.peekItem(last: false)?.key == .string("a"))
        // Storing a key again moves it to the end.
        try fixture.cache.set("c", 2)
        #expect(try fixture.cache.keys() == Self.expected.filter { $0 != .string("c") } + [.string("c")])
    }

    @Test func setManyListsInItsOrder() throws {
        let fixture = try makeCache()
        try fixture.cache.set(many: Self.letters.map { ($0, 1) })
        #expect(try fixture.cache.keys() == Self.expected)
        try fixture.cache.set(many: Self.letters.reversed().map { ($0, 2) })
        #expect(try fixture.cache.keys() == Self.expected.reversed())
    }

    @Test func twoHandlesShareOneOrder() throws {
        let dir = TemporaryDirectory("cask-order")
        let one = try makeCache(dir: dir)
        let two = try makeCache(dir: dir)
        for (i, k) in Self.letters.enumerated() { try (i % 2 == 0 ? one : two).cache.set(k, i) }
        #expect(try one.cache.keys() == Self.expected)
        #expect(try two.cache.keys() == Self.expected)
    }

    @Test func orderSurvivesReopening() throws {
        let dir = TemporaryDirectory("cask-order-reopen")
        do {
            let fixture = try makeCache(dir: dir)
            for k in Self.letters.prefix(6) { try fixture.cache.set(k, 1) }
        }
        let fixture = try makeCache(dir: dir)
        for k in Self.letters.dropFirst(6) { try fixture.cache.set(k, 1) }
        #expect(try fixture.cache.keys() == Self.expected)
    }
}
