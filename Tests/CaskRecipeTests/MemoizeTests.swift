import CaskTestSupport
import Foundation
import Testing
@testable import Cask

/// A result whose encoding fails (as a type with a custom `encode(to:)` may).
struct Unencodable: Codable, Sendable {
    var x: Double
    func encode(to encoder: any Encoder) throws {
        throw EncodingError.invalidValue(x, .init(codingPath: [], debugDescription: "refuses to be encoded"))
    }
}
struct Query: Sendable { var text: String; var page: Int; var traceID: Int }

@Suite("Memoize")
struct MemoizeTests {
    @Test func sameArgumentsHitAndTheKeyIsCanonical() throws {
        let f = try makeCache()
        let runs = Counter()
        let square = f.cache.memoize(name: "square", version: "1") { (x: Int) in runs.bump(); return [x, x * x] }
        #expect(try square(12) == [12, 144])
        #expect(try square(12) == [12, 144])
        #expect(try square(13) == [13, 169])
        #expect(runs.value == 2)
        let key = try square.key(for: 12)
        #expect(String(decoding: key, as: UTF8.self) == #"j{"fn":"square","v":"1","x":12}"#)
        struct Documented: Encodable, Sendable { var fn: String; var v: String; var x: Int }
        #expect(key == CodableKey(Documented(fn: "square", v: "1", x: 12)).cacheKeyBytes)
        // Another handle on the directory (as another process would) hits the same entry.
        let other = try Cache(directory: f.dir.path, clock: f.clock)
        let again = other.memoize(name: "square", version: "1") { (x: Int) -> [Int] in runs.bump(); return [] }
        #expect(try again(12) == [12, 144])
        #expect(runs.value == 2)
    }

    @Test func asyncFunctionsAndStructArguments() async throws {
        let f = try makeCache()
        let runs = Counter()
        let load = f.cache.memoize(name: "load-customer", version: "2") { (id: Int) async throws -> Report in
            runs.bump()
            try await Task.sleep(for: .milliseconds(1))
            return Report(id: id, title: "customer \(id)")
        }
        #expect(try await load(42) == Report(id: 42, title: "customer 42"))
        #expect(try await load(42) == Report(id: 42, title: "customer 42"))
        #expect(runs.value == 1)
        #expect(try load.isCached(42))
        #expect(try !load.isCached(43))
    }

    @Test func typedKeepsArgumentTypesApart() throws {
        let f = try makeCache()
        let untypedInt = f.cache.memoize(name: "f") { (x: Int) in "int \(x)" }
        let untypedDouble = f.cache.memoize(name: "f") { (x: Double) in "double \(x)" }
        #expect(try untypedInt(1) == "int 1")
        #expect(try untypedDouble(1.0) == "int 1", "1 and 1.0 are the same JSON number: one call")
        let typedInt = f.cache.memoize(name: "g", typed: true) { (x: Int) in "int \(x)" }
        let typedDouble = f.cache.memoize(name: "g", typed: true) { (x: Double) in "double \(x)" }
        #expect(try typedInt(1) == "int 1")
        #expect(try typedDouble(1.0) == "double 1.0")
        #expect(try typedInt.key(for: 1) != typedDouble.key(for: 1.0))
    }

    @Test func keyedByLeavesOutFieldsThatDoNotMatter() throws {
        let f = try makeCache()
        let runs = Counter()
        let search = f.cache.memoize(name: "search", keyedBy: { (q: Query) in [q.text, String(q.page)] }) { q in
            runs.bump()
            return "\(q.text)#\(q.page)"
        }
        #expect(try search(Query(text: "cask", page: 1, traceID: 1)) == "cask#1")
        #expect(try search(Query(text: "cask", page: 1, traceID: 2)) == "cask#1")
        #expect(try search(Query(text: "cask", page: 2, traceID: 3)) == "cask#2")
        #expect(runs.value == 2)
    }

    @Test func errorsAreNotStoredAndUnencodableResultsThrow() throws {
        let f = try makeCache()
        let runs = Counter()
        struct Flaky: Error {}
        let flaky = f.cache.memoize(name: "flaky") { (x: Int) -> Int in
            if runs.bump() == 1 { throw Flaky() }
            return x
        }
        #expect(throws: Flaky.self) { try flaky(1) }
        #expect(try flaky(1) == 1)
        #expect(runs.value == 2)
        let bad = f.cache.memoize(name: "bad") { (x: Int) in Unencodable(x: .infinity) }
        #expect { try bad(1) } throws: { ($0 as? CaskError)?.code == .invalidArgument }
        #expect(try !bad.isCached(1))
        // A non-finite number, which JSON cannot hold, is stored in the compact form.
        struct Measure: Codable, Sendable, Equatable { var x: Double }
        let inf = f.cache.memoize(name: "inf") { (x: Int) in Measure(x: -.infinity) }
        #expect(try inf(1) == Measure(x: -.infinity) && inf.isCached(1))
        let badKey = f.cache.memoize(name: "bad-key") { (x: Double) in x }
        #expect { try badKey(.nan) } throws: { ($0 as? CaskError)?.code == .invalidArgument }
    }

    @Test func recomputeClearAndVersionBump() throws {
        let f = try makeCache()
        let runs = Counter()
        let a1 = f.cache.memoize(name: "a", version: "1") { (x: Int) in runs.bump(); return x }
        let b = f.cache.memoize(name: "b", version: "1") { (x: Int) in runs.bump(); return -x }
        for i in 0..<5 { _ = try a1(i); _ = try b(i) }
        #expect(runs.value == 10)
        _ = try a1.recompute(0)
        #expect(runs.value == 11)
        // Bumping a's version invalidates a's results only.
        let a2 = f.cache.memoize(name: "a", version: "2") { (x: Int) in runs.bump(); return x * 10 }
        #expect(try a2(3) == 30)
        #expect(try b(3) == -3)
        #expect(try a1(3) == 3, "the old version's results are still its own")
        #expect(runs.value == 12)
        #expect(try a1.clear() == 6, "5 results of version 1 and 1 of version 2")
        #expect(try !a1.isCached(1) && !a2.isCached(3))
        #expect(try b.isCached(4))
        #expect(try f.cache.keys(tag: "memo:b").count == 5)
    }

    @Test func singleFlightSharesOneComputation() async throws {
        let f = try makeCache()
        let runs = Counter()
        let slow = f.cache.memoize(name: "slow") { (x: Int) async throws -> Int in
            runs.bump()
            try await Task.sleep(for: .milliseconds(150))
            return x + 1
        }
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 { group.addTask { try await slow(7) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results == Array(repeating: 8, count: 8))
        #expect(runs.value == 1)

        let syncRuns = Counter()
        let slowSync = f.cache.memoize(name: "slow-sync") { (x: Int) -> Int in
            syncRuns.bump()
            usleep(150_000)
            return x + 1
        }
        DispatchQueue.concurrentPerform(iterations: 6) { _ in #expect((try? slowSync(1)) == 2) }
        #expect(syncRuns.value == 1)
    }

    @Test func earlyRecomputationBeforeExpiry() throws {
        let f = try makeCache()
        let runs = Counter()
        let clock = f.clock
        // Each computation takes 10 s of the cache's clock; the results live 60 s.
        let eager = f.cache.memoize(name: "eager", validity: [.expires(after: .seconds(60))],
                                    stampede: StampedeProtection(earlyRecomputationBeta: 1e6)) { (x: Int) in
            runs.bump(); clock.advance(by: 10); return x
        }
        _ = try eager(1)
        _ = try eager(1)
        #expect(runs.value == 2, "with a huge beta every hit is due for recomputation")
        let calm = f.cache.memoize(name: "calm", validity: [.expires(after: .seconds(60))],
                                   stampede: StampedeProtection(earlyRecomputationBeta: 1e-9)) { (x: Int) in
            runs.bump(); clock.advance(by: 10); return x
        }
        _ = try calm(1)
        _ = try calm(1)
        #expect(runs.value == 3)
        #expect(try calm.info(for: 1)?.computeDuration == 10)
    }
}
