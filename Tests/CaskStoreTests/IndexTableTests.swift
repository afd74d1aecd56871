import CaskTestSupport
import Testing
@testable import CaskStore

/// The index's open-addressing table against a Dictionary, under random inserts, replacements,
/// removals, growth and iteration. Hashes are drawn from a small range in some runs so that many
/// share a home slot and removals must shift long runs back (wrapping at the table's end).
@Suite("Index table")
struct IndexTableTests {
    static func entry(_ n: UInt64) -> IndexEntry {
        IndexEntry(segment: UInt32(truncatingIfNeeded: n), offset: UInt32(truncatingIfNeeded: n >> 8), length: 40,
                   tag: 0, expireTime: Int64(truncatingIfNeeded: n))
    }

    @Test(arguments: [(UInt64(1), UInt64.max), (2, 64), (3, 1 << 20), (4, 300)])
    func randomOperationsMatchADictionary(seed: UInt64, hashRange: UInt64) throws {
        var rng = SeededRandom(seed: seed)
        var table = IndexTable()
        var model: [UInt64: IndexEntry] = [:]
        // High hashes land at the end of the table, so runs there wrap around to slot 0.
        func hash() -> UInt64 {
            let h = UInt64.random(in: 0..<hashRange, using: &rng)
            return Bool.random(using: &rng) ? h : UInt64.max - h
        }
        for step in 0..<20_000 {
            let h = hash()
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5:
                let e = Self.entry(UInt64(step))
                table[h] = e
                model[h] = e
            case 5..<8:
                #expect(table.removeValue(forKey: h) == model.removeValue(forKey: h), "step \(step)")
            case 8:
                if let slot = table.slot(of: h) {
                    var e = table.entry(at: slot)
                    e.access &+= 1
                    table.setEntry(at: slot, e)
                    model[h]!.access &+= 1
                } else {
                    #expect(model[h] == nil, "step \(step): \(h) not found")
                }
            default:
                #expect(table[h] == model[h], "step \(step)")
            }
            #expect(table.count == model.count)
            if step % 997 == 0 {
                var seen: [UInt64: IndexEntry] = [:]
                for (h, e) in table { #expect(seen.updateValue(e, forKey: h) == nil, "hash listed twice") }
                #expect(seen == model, "step \(step): iteration differs from the model")
                for (h, e) in model { #expect(table[h] == e, "step \(step): \(h) lost") }
            }
            if step == 10_000 { table.reserveCapacity(table.count * 3) }
        }
        #expect(table.capacity * 4 / 5 >= table.count)
    }

    @Test func everyKeyIsFoundAfterRemovalsInAFullRun() {
        // 64 hashes with one home slot in a table of 81 slots: one long run; remove from its middle.
        var table = IndexTable()
        table.reserveCapacity(64)
        let hashes = (0..<64).map { UInt64($0) }
        for h in hashes { table[h] = Self.entry(h) }
        for h in hashes where h % 3 == 0 { table[h] = nil }
        for h in hashes {
            #expect(table[h] == (h % 3 == 0 ? nil : Self.entry(h)), "hash \(h)")
        }
        #expect(table.count == hashes.filter { $0 % 3 != 0 }.count)
    }

    @Test func stayedWithinFourFifthsFull() {
        var table = IndexTable()
        for h in 0..<100_000 {
            table[UInt64(h) &* 0x9E37_79B9_7F4A_7C15] = Self.entry(UInt64(h))
            #expect(table.count <= table.capacity * 4 / 5)
        }
        // Growing by half keeps it over half full, where a power-of-two table may be under half.
        #expect(table.count * 2 > table.capacity)
    }
}
