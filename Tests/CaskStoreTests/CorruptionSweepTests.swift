import CaskTestSupport
import Foundation
import Testing
@testable import CaskStore

/// Damage at every byte of a small store (segment, hint file, manifest): opening never crashes
/// and a get never returns a value that was not written for that same key.
@Suite("Corruption sweep")
struct CorruptionSweepTests {
    static let keys = (0..<8).map { "key-\($0)" }

    /// A one-shard store: 30 puts and deletes over 8 keys. Returns every value written per key and
    /// the committed end of the active segment (its file runs on with space allocated ahead).
    func buildStore(_ dir: TemporaryDirectory, compact: Bool) throws -> (written: [String: Set<String>], model: [String: String],
                                                                          end: Int) {
        let store = try Store(directory: dir.path, options: .testing(shards: 1, segmentSize: 1 << 20))
        var written: [String: Set<String>] = [:]
        var model: [String: String] = [:]
        var rng = SeededRandom(seed: 5)
        for i in 0..<30 {
            let k = Self.keys[Int(rng.next() % 8)]
            if i % 6 == 5 {
                try store.delete(bytes(k))
                model[k] = nil
            } else {
                let v = "value-\(i)-" + String(repeating: "z", count: Int(rng.next() % 20))
                try store.put(bytes(k), bytes(v))
                written[k, default: []].insert(v)
                model[k] = v
            }
        }
        if compact { try store.compact() }
        let end = committedEnd(store)
        try store.close()
        return (written, model, end)
    }

    /// Copies the store's files (not the lock/shared header) into `scratch`, replacing `file` by `content`.
    func stage(from source: TemporaryDirectory, to scratch: TemporaryDirectory, file: String, content: [UInt8]) throws {
        try? FileManager.default.removeItem(atPath: scratch.sub("shard-000"))
        try FileManager.default.createDirectory(atPath: scratch.sub("shard-000"), withIntermediateDirectories: true)
        writeFile(scratch.sub("cask.meta"), readFile(source.sub("cask.meta")))
        for name in try FileManager.default.contentsOfDirectory(atPath: source.sub("shard-000")) where name != "lock" && name != "compact.lock" {
            let path = "shard-000/" + name
            writeFile(scratch.sub(path), path == file ? content : readFile(source.sub(path)))
        }
    }

    /// Opens the damaged copy: it must open, every get must return nil or a value written for that key.
    func expectNoWrongValue(_ scratch: TemporaryDirectory, _ written: [String: Set<String>], exact model: [String: String]? = nil,
                            _ label: String) {
        do {
            let store = try Store(directory: scratch.path, options: .testing(shards: 1, segmentSize: 1 << 20))
            for k in Self.keys {
                let v = text(try store.get(bytes(k)))
                if let model {
                    if v != model[k] { Issue.record("\(label): \(k) is \(v ?? "absent"), expected \(model[k] ?? "absent")") }
                } else if let v, written[k]?.contains(v) != true {
                    Issue.record("\(label): \(k) returned \(v), never written for it")
                }
            }
            if let p = try store.checkInvariants() { Issue.record("\(label): \(p)") }
            try store.close()
        } catch {
            Issue.record("\(label): open failed: \(error)")
        }
    }

    @Test func segmentDamageAtEveryByteNeverYieldsAWrongValue() throws {
        let source = TemporaryDirectory("cask-sweep")
        let (written, _, end) = try buildStore(source, compact: false)
        let file = "shard-000/00000001.log"
        let log = Array(readFile(source.sub(file)).prefix(end))
        let scratch = TemporaryDirectory("cask-sweep-scratch")
        var rng = SeededRandom(seed: 99)
        var flips = 0, zeroRanges = 0, garbageRanges = 0
        for i in 0..<log.count {
            var d = log
            d[i] ^= UInt8(1 << (i % 8))
            try stage(from: source, to: scratch, file: file, content: d)
            expectNoWrongValue(scratch, written, "bit \(i % 8) of byte \(i) flipped")
            flips += 1
        }
        for start in stride(from: 0, to: log.count, by: 7) {
            for length in [1, 16, 64] {
                var z = log
                for j in start..<min(log.count, start + length) { z[j] = 0 }
                try stage(from: source, to: scratch, file: file, content: z)
                expectNoWrongValue(scratch, written, "\(length) zero bytes at \(start)")
                zeroRanges += 1
            }
            for length in [8, 48] {
                var g = log
                for j in start..<min(log.count, start + length) { g[j] = UInt8.random(in: 0...255, using: &rng) }
                try stage(from: source, to: scratch, file: file, content: g)
                expectNoWrongValue(scratch, written, "\(length) garbage bytes at \(start)")
                garbageRanges += 1
            }
        }
        print("corruption sweep (segment): \(log.count) bytes, \(flips) bit flips, \(zeroRanges) zeroed ranges, \(garbageRanges) garbage ranges")
        #expect(flips == log.count && log.count > 1000)
    }

    /// A damaged hint file is rejected and its segment scanned instead: every value stays exact.
    @Test func hintDamageAtEveryByteIsRejectedAndValuesStayExact() throws {
        let source = TemporaryDirectory("cask-sweep-hint")
        let (written, model, _) = try buildStore(source, compact: true)
        let hints = try FileManager.default.contentsOfDirectory(atPath: source.sub("shard-000")).filter { $0.hasSuffix(".hint") }
        let file = "shard-000/" + (try #require(hints.first))
        let hint = readFile(source.sub(file))
        let scratch = TemporaryDirectory("cask-sweep-scratch")
        for i in 0..<hint.count {
            var d = hint
            d[i] ^= UInt8(1 << (i % 8))
            try stage(from: source, to: scratch, file: file, content: d)
            expectNoWrongValue(scratch, written, exact: model, "hint byte \(i) flipped")
        }
        print("corruption sweep (hint): \(hint.count) bytes flipped one at a time")
        #expect(hint.count > 32)
    }

    /// A damaged manifest is refused with `corrupted` (never guessed, never a crash).
    @Test func manifestDamageAtEveryByteIsRefused() throws {
        let source = TemporaryDirectory("cask-sweep-manifest")
        _ = try buildStore(source, compact: true)
        let file = "shard-000/MANIFEST"
        let manifest = readFile(source.sub(file))
        let scratch = TemporaryDirectory("cask-sweep-scratch")
        for i in 0..<manifest.count {
            var d = manifest
            d[i] ^= UInt8(1 << (i % 8))
            try stage(from: source, to: scratch, file: file, content: d)
            #expect(throws: CaskError.self, "manifest byte \(i)") {
                try Store(directory: scratch.path, options: .testing(shards: 1, segmentSize: 1 << 20))
            }
        }
        print("corruption sweep (manifest): \(manifest.count) bytes flipped one at a time")
    }
}

/// Damage that appears after a record was checked and indexed (the disk, or another program,
/// changed it while the store is open): a get checks every value it copies out.
@Suite("Damage while open")
struct DamageWhileOpenTests {
    @Test(arguments: [100, 70_000, 1 << 20, (3 << 20) + 5])
    func aGetNeverReturnsAValueWhoseBytesChanged(valueLength: Int) throws {
        let dir = TemporaryDirectory()
        let store = try Store(directory: dir.path, options: .testing(shards: 1, segmentSize: 8 << 20))
        defer { try? store.close() }
        let value = (0..<valueLength).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
        try store.put(bytes("other"), bytes("stays"))
        try store.put(bytes("k"), value)
        #expect(try store.get(bytes("k")) == value)
        // Flip one byte in the last piece of the value, through the file (the store maps it shared).
        let segment = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.sub("shard-000")).first { $0.hasSuffix(".log") })
        let path = dir.sub("shard-000/" + segment)
        var file = readFile(path)
        // The value's last 16 bytes, found from the end (the record is the last one written).
        let tail = Array(value.suffix(16))
        let start = try #require(stride(from: file.count - 16, through: 0, by: -1).first { file[$0..<($0 + 16)].elementsEqual(tail) })
        let at = start + 13
        file[at] ^= 0x40
        let fd = open(path, O_WRONLY)
        #expect(fd >= 0)
        _ = file.withUnsafeBytes { pwrite(fd, $0.baseAddress! + at, 1, off_t(at)) }
        close(fd)
        #expect(try store.get(bytes("k")) == nil, "a damaged value is reported and treated as absent")
        #expect(store.recoveryReport.corruptRanges.count == 1)
        #expect(try store.get(bytes("other")) == bytes("stays"))
    }
}
