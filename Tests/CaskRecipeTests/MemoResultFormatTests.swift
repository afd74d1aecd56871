import CaskTestSupport
import Foundation
import Testing
@testable import Cask

/// How memoized results are stored: the compact form with the default coder, the cache's own
/// coder otherwise, and results written by earlier releases (JSON through the coder) still served.
@Suite("Memoized result format")
struct MemoResultFormatTests {
    struct Report: Codable, Equatable, Sendable { var title: String; var rows: [[Double]]; var note: String? }

    func envelope(_ f: Fixture, _ key: [UInt8]) throws -> MemoEnvelope {
        let (stored, _, _, _) = try #require(try f.cache.storedEntry(key))
        return try #require(MemoEnvelope(try f.cache.materialize(stored).1))
    }

    @Test func resultsAreStoredCompactAndReadBack() throws {
        let f = try makeCache()
        let runs = Counter()
        let report = f.cache.memoize(name: "report") { (x: Int) -> Report in
            _ = runs.bump()
            return Report(title: "t\(x)", rows: [[1.5, Double(x)]], note: x == 0 ? nil : "n")
        }
        for x in 0..<3 { #expect(try report(x) == Report(title: "t\(x)", rows: [[1.5, Double(x)]], note: x == 0 ? nil : "n")) }
        for x in 0..<3 { _ = try report(x) }
        #expect(runs.value == 3)
        #expect(try envelope(f, report.key(for: 1)).resultEncoding == .compact)
        // Native results keep their record encodings.
        let name = f.cache.memoize(name: "name") { (x: Int) in "v\(x)" }
        _ = try name(1)
        #expect(try envelope(f, name.key(for: 1)).resultEncoding == .string)
    }

    @Test func optionalResultsAreHits() throws {
        // A non-nil optional result used to be stored as an integer and then never read back as
        // `Int?` (every call computed again); the compact form reads it.
        let f = try makeCache()
        let runs = Counter()
        let find = f.cache.memoize(name: "find") { (x: Int) -> Int? in
            _ = runs.bump()
            return x > 0 ? x * 2 : nil
        }
        #expect(try find(4) == 8 && find(4) == 8)
        #expect(try find(0) == nil && find(0) == nil)
        #expect(runs.value == 2)
    }

    @Test func resultsOfEarlierReleasesAreStillServed() throws {
        // What an earlier release wrote: the result as the default coder's JSON (encoding 4).
        let f = try makeCache()
        let runs = Counter()
        let report = f.cache.memoize(name: "report", version: "2") { (x: Int) -> Report in
            _ = runs.bump()
            return Report(title: "computed", rows: [], note: nil)
        }
        let old = Report(title: "from an earlier release", rows: [[2, 3]], note: "kept")
        let written = MemoEnvelope(resultEncoding: .coded, version: "2", computedAt: f.cache.now, computeDuration: 5,
                                   witnesses: MemoWitnesses(), result: try JSONCacheCoder().encode(old))
        try f.cache.store(report.key(for: 9), .bytes, written.encoded(), expire: nil, tag: "memo:report")
        #expect(try report(9) == old)
        #expect(runs.value == 0)
    }

    @Test func aCacheWithItsOwnCoderKeepsUsingIt() throws {
        struct Reversed: CacheCoder {
            func encode<T: Encodable>(_ value: T) throws -> [UInt8] { Array(try JSONCacheCoder().encode(value).reversed()) }
            func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
                try JSONCacheCoder().decode(type, from: Array(bytes.reversed()))
            }
        }
        let dir = TemporaryDirectory()
        let cache = try Cache(directory: dir.path, coder: Reversed())
        let runs = Counter()
        let report = cache.memoize(name: "report") { (x: Int) -> Report in
            _ = runs.bump()
            return Report(title: "r", rows: [[Double(x)]], note: nil)
        }
        #expect(try report(1) == report(1))
        #expect(runs.value == 1)
        let (stored, _, _, _) = try #require(try cache.storedEntry(report.key(for: 1)))
        let envelope = try #require(MemoEnvelope(try cache.materialize(stored).1))
        #expect(envelope.resultEncoding == .coded)
        #expect(Array(envelope.result).reversed().starts(with: Array("{".utf8)))
    }

    @Test func aResultOfAnotherTypeIsComputedAgain() throws {
        // The result type changed without a version bump: the stored bytes do not decode as the
        // new type, so the call computes and overwrites instead of serving a wrong value.
        let f = try makeCache()
        let asInts = f.cache.memoize(name: "shape") { (x: Int) in [x, x] }
        _ = try asInts(1)
        let runs = Counter()
        let asStrings = f.cache.memoize(name: "shape") { (x: Int) -> [String] in
            _ = runs.bump()
            return ["s\(x)"]
        }
        #expect(try asStrings(1) == ["s1"])
        #expect(try asStrings(1) == ["s1"])
        #expect(runs.value == 1)
    }
}
