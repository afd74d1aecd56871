import CaskTestSupport
import Foundation
import Testing
import Cask

// This file is the test that the cache's fast operations are callable without `await` inside an
// async function (a server handler, say): it compiles only if no async overload shares their
// names, because in an async context the compiler would pick the async overload and demand
// `await`. It uses the public API only, as an application does.

private struct Order: Codable, Equatable, Sendable {
    var id: Int
    var items: [String]
}

private func handleRequest(_ cache: Cache, id: Int) async throws -> Order? {
    try cache.set("order:\(id)", Order(id: id, items: ["tea"]), expire: 60, tag: "orders")
    let order: Order? = try cache.get("order:\(id)")
    let same = try cache.get("order:\(id)", as: Order.self)
    #expect(order == same)
    try cache.add("seen:\(id)", true)
    try cache.incr("requests")
    try cache.touch("requests", expire: nil)
    try cache.set(many: [("a", 1), ("b", 2)])
    #expect(try cache.get(many: ["a", "b", "c"], as: Int.self) == [1, 2, nil])
    try cache.transact { tx in
        let n = try tx.get("a", as: Int.self) ?? 0
        try tx.set("a", n + 1)
    }
    try cache.delete("b")
    try cache.expire()
    _ = try cache.stats()
    let health = try cache.check(fix: false)
    #expect(health.isHealthy)
    let compacted = try cache.compact()
    #expect(!compacted.isEmpty)
    return order
}

@Suite("Fast calls in async code")
struct FastCallsInAsyncTests {
    @Test func fastOperationsNeedNoAwaitInAsyncFunctions() async throws {
        let fixture = try makeCache()
        let order = try await handleRequest(fixture.cache, id: 7)
        #expect(order == Order(id: 7, items: ["tea"]))
        #expect(try fixture.cache.get("a", as: Int.self) == 2)
        #expect(try fixture.cache.get("requests", as: Int64.self) == 1)
    }
}
