import CaskTestSupport
import Foundation
import Testing
@testable import CaskStore

/// Random operation sequences against the store and a Dictionary, with reopen, compaction and
/// clear mixed in; invariants checked after every step. `CASK_MODEL_STEPS` runs it longer.
@Suite("Reference model")
struct ModelTests {
    static let steps = Int(ProcessInfo.processInfo.environment["CASK_MODEL_STEPS"] ?? "") ?? 3000

    @Test(arguments: [1, 2, 3])
    func randomOperationsMatchADictionary(seed: UInt64) throws {
        var rng = SeededRandom(seed: seed)
        let dir = TemporaryDirectory()
        let options = StoreOptions.testing(shards: 3, segmentSize: 4096)
        var store = try Store(directory: dir.path, options: options)
        var model: [[UInt8]: (value: [UInt8], expire: Int64)] = [:]
        // The model's clock runs a year ahead of the wall clock: compaction drops entries expired by
        // the wall clock, and none of the model's expire times are in the wall clock's past.
        var now: Int64 = wallClockMicros() + 365 * 86_400 * 1_000_000
        func key() -> [UInt8] { bytes("key-\(Int.random(in: 0..<60, using: &rng))") }
        for step in 0..<Self.steps {
            now += Int64.random(in: 0...1000, using: &rng)
            let k = key()
            let live = model[k].flatMap { $0.expire == 0 || $0.expire > now ? $0 : nil }
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<45:
                let v = (0..<Int.random(in: 0..<300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                let expire: Int64 = Bool.random(using: &rng) ? 0 : now + Int64.random(in: 1...20_000, using: &rng)
                try store.put(k, v, expireTime: expire, now: now)
                model[k] = (v, expire)
            case 45..<70:
                #expect(try store.get(k, now: now) == live?.value, "step \(step)")
            case 70..<82:
                let existed = try store.delete(k, now: now)
                #expect(existed == (live != nil), "step \(step)")
                model[k] = nil
            case 82..<90:
                let expire = now + Int64.random(in: 1...20_000, using: &rng)
                let touched = try store.touch(k, expireTime: expire, now: now)
                #expect(touched == (live != nil), "step \(step)")
                if live != nil { model[k]!.expire = expire }
            case 90..<95:
                try store.compact()
            case 95..<99:
                try store.close()
                store = try Store(directory: dir.path, options: options)
                #expect(store.recoveryReport.isClean)
            default:
                if Int.random(in: 0..<10, using: &rng) == 0 {
                    try store.clear()
                    model = [:]
                }
            }
            if let problem = try store.checkInvariants() {
                Issue.record("step \(step): \(problem)")
                return
            }
        }
        for (k, e) in model {
            let expected = e.expire == 0 || e.expire > now ? e.value : nil
            #expect(try store.get(k, now: now) == expected)
        }
    }

    /// Keys whose 64-bit hashes collide are kept apart (forced through the directory directly).
    @Test func hashCollisionsAreResolvedByKeyBytes() throws {
        var d = KeyDirectory()
        let a = bytes("alpha"), b = bytes("beta")
        var records: [UInt32: [UInt8]] = [:]
        func entry(_ off: UInt32, _ key: [UInt8]) -> IndexEntry {
            records[off] = key
            return IndexEntry(segment: 1, offset: off, length: 100, tag: 0, expireTime: 0)
        }
        func matches(_ key: [UInt8]) -> (IndexEntry) -> Bool { { records[$0.offset] == key } }
        let ea = entry(0, a), eb = entry(100, b)
        a.withUnsafeBytes { k in _ = d.set(hash: 7, key: k, entry: ea, matches: matches(a)) }
        b.withUnsafeBytes { k in _ = d.set(hash: 7, key: k, entry: eb, matches: matches(b)) }
        #expect(d.count == 2)
        #expect(a.withUnsafeBytes { k in d.find(hash: 7, key: k, matches: matches(a)) } == ea)
        #expect(b.withUnsafeBytes { k in d.find(hash: 7, key: k, matches: matches(b)) } == eb)
        // A reader updates the entry it found in place: the main table's, never the other key's.
        let foundA = try #require(a.withUnsafeBytes { k in d.findSlot(hash: 7, key: k, matches: matches(a)) })
        let slotA = try #require(foundA.slot)
        #expect(foundA.entry == ea)
        let foundB = b.withUnsafeBytes { k in d.findSlot(hash: 7, key: k, matches: matches(b)) }
        #expect(foundB?.entry == eb && foundB?.slot == nil, "the collided key's entry is outside the main table")
        d.setAccess(slot: slotA) { $0 = 1 }
        d.markChecked(slot: slotA)
        #expect(d.entry(hash: 7)?.access == 1 && d.entry(hash: 7)?.checked == true)
        #expect(b.withUnsafeBytes { k in d.find(hash: 7, key: k, matches: matches(b)) }?.access == 0)
        a.withUnsafeBytes { k in _ = d.remove(hash: 7, key: k, matches: matches(a)) }
        #expect(a.withUnsafeBytes { k in d.find(hash: 7, key: k, matches: matches(a)) } == nil)
        #expect(b.withUnsafeBytes { k in d.find(hash: 7, key: k, matches: matches(b)) } == eb)
        #expect(d.checkInvariants() == nil)
    }
}
