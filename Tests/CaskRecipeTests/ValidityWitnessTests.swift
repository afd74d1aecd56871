import CaskTestSupport
import Foundation
import Synchronization
import CaskStore
import Testing
@testable import Cask

/// Validity as witnesses: rules of one's own, and results stored in the first envelope format.
@Suite("Validity witnesses")
struct ValidityWitnessTests {
    /// A rule whose witness is a number read when the function runs.
    struct Generation: ValidityRule {
        let current: Locked<Int>
        let seen: Locked<[[UInt8]?]>
        var witnessName: String { "test.generation" }
        func witness(_ context: ValidityContext) throws -> [UInt8]? {
            #expect(context.entry == nil)
            return Array(String(current.withLock { $0 }).utf8)
        }
        func isValid(witness: [UInt8]?, _ context: ValidityContext) throws -> Bool {
            seen.withLock { $0.append(witness) }
            #expect(context.entry?.version == "g1")
            return witness == Array(String(current.withLock { $0 }).utf8)
        }
    }

    @Test func userRuleStoresItsWitnessAndJudgesIt() throws {
        let f = try makeCache()
        let runs = Counter()
        let generation = Locked(1)
        let seen = Locked<[[UInt8]?]>([])
        let rule = Generation(current: generation, seen: seen)
        let g = f.cache.memoize(name: "gen", version: "g1", validity: [ValidityPolicy(rule), .expires(after: .seconds(60))]) {
            (x: Int) in runs.bump()
        }
        #expect(try g(1) == 1 && g(1) == 1)
        #expect(seen.withLock { $0 } == [Array("1".utf8)])
        generation.withLock { $0 = 2 }
        #expect(try g(1) == 2, "a changed witness recomputes")
        #expect(try g(1) == 2)
        #expect(seen.withLock { $0.last } == Array("2".utf8))
        // The time rule still applies next to it.
        f.clock.advance(by: 60)
        #expect(try g(1) == 3)
    }

    struct Refusing: ValidityRule {
        struct Failure: Error {}
        var witnessName: String { "test.refusing" }
        func witness(_ context: ValidityContext) throws -> [UInt8]? { throw Failure() }
        func isValid(witness: [UInt8]?, _ context: ValidityContext) throws -> Bool { true }
    }

    @Test func aWitnessThatCannotBeTakenFailsTheCallBeforeTheBodyRuns() throws {
        let f = try makeCache()
        let runs = Counter()
        let g = f.cache.memoize(name: "refusing", validity: [ValidityPolicy(Refusing())]) { (x: Int) in runs.bump() }
        #expect(throws: Refusing.Failure.self) { try g(1) }
        #expect(runs.value == 0)
        #expect(try g.info(for: 1) == nil)
    }

    /// The bytes of a result as the first envelope format ("CKM1") stored it, written out here
    /// field by field: header, version, the source-file fingerprints (a JSON array), the result.
    func legacyEnvelope(version: String, computedAt: Int64, fingerprints: [UInt8], result: String) -> [UInt8] {
        func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        let v = Array(version.utf8)
        return Array("CKM1".utf8) + [1, 0] + le(UInt16(v.count)) + le(computedAt) + le(Int64(2_000))
            + le(UInt32(fingerprints.count)) + [0, 0, 0, 0] + v + fingerprints + Array(result.utf8)
    }

    @Test func resultsInTheFirstEnvelopeFormatAreStillHits() throws {
        let f = try makeCache()
        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        let file = dir.path + "/input.csv"
        try "a,b\n".write(toFile: file, atomically: false, encoding: .utf8)
        let now = Int64((f.clock.now * 1e6).rounded())
        let runs = Counter()

        // Source files: the old entry held every fingerprint of the function in one array.
        let parse = f.cache.memoize(name: "parse", version: "1", validity: [.sourceFiles([file])]) { (x: Int) -> String in
            "computed #\(runs.bump())"
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let fingerprints = Array(try encoder.encode([FileFingerprint(path: file, contentHash: false)]))
        #expect(String(decoding: fingerprints, as: UTF8.self).hasPrefix(#"[{"d":"#))
        try f.cache.store(parse.key(for: 0), .bytes, legacyEnvelope(version: "1", computedAt: now, fingerprints: fingerprints, result: "stored by CKM1"),
                          expire: nil, tag: "memo:parse")
        #expect(try parse(0) == "stored by CKM1")
        #expect(try parse.info(for: 0)?.computeDuration == 0.002)
        try "a,b,c\n".write(toFile: file, atomically: false, encoding: .utf8)
        #expect(try parse(0) == "computed #1", "a changed file still recomputes")
        #expect(try parse(0) == "computed #1")

        // Time alone: no fingerprints in the old entry.
        let daily = f.cache.memoize(name: "daily", version: "1", validity: [.expires(after: .seconds(30))]) { (x: Int) -> String in
            "computed #\(runs.bump())"
        }
        try f.cache.store(daily.key(for: 0), .bytes, legacyEnvelope(version: "1", computedAt: now, fingerprints: [], result: "old daily"),
                          expire: nil, tag: "memo:daily")
        #expect(try daily(0) == "old daily")
        f.clock.advance(by: 30)
        #expect(try daily(0) == "computed #2")

        // An old entry without fingerprints, read by a function that now lists files: recomputed.
        let listed = f.cache.memoize(name: "listed", version: "1", validity: [.sourceFiles([file])]) { (x: Int) -> String in
            "computed #\(runs.bump())"
        }
        try f.cache.store(listed.key(for: 0), .bytes, legacyEnvelope(version: "1", computedAt: Int64((f.clock.now * 1e6).rounded()), fingerprints: [], result: "unlisted"),
                          expire: nil, tag: "memo:listed")
        #expect(try listed(0) == "computed #3")
    }

    @Test func witnessBlockRoundTrips() throws {
        let w = MemoWitnesses([("a", [1, 2, 3]), ("cask.files[\"/x\"]", []), ("é", Array(repeating: 7, count: 300))])
        let envelope = MemoEnvelope(resultEncoding: .string, version: "v", computedAt: 5, computeDuration: 1, witnesses: w, result: Array("r".utf8))
        let bytes = envelope.encoded()
        #expect(Array(bytes[0..<4]) == Array("CKM2".utf8))
        let back = try #require(MemoEnvelope(bytes))
        #expect(back.witnesses == w && Array(back.result) == Array("r".utf8) && back.version == "v")
        #expect(back.witnesses.witness(named: "é")?.count == 300 && back.witnesses.witness(named: "b") == nil)
        // A truncated witness block is not an envelope (a miss), never a crash.
        var cut = bytes
        let shorter = withUnsafeBytes(of: UInt32(w.encoded().count - 1).littleEndian) { Array($0) }
        cut.replaceSubrange(24..<28, with: shorter)
        #expect(MemoEnvelope(cut) == nil)
    }
}
