import CaskTestSupport
import Foundation
import Testing
@testable import CaskStore

@Suite("Recovery")
struct RecoveryTests {
    /// Builds a one-shard store with `n` records (puts and some deletes) and returns the segment
    /// bytes, the end offset after each record, and the model state after each record.
    func buildLog(_ dir: TemporaryDirectory, records n: Int) throws -> (log: [UInt8], ends: [Int], states: [[String: String]]) {
        let store = try Store(directory: dir.path, options: .testing(shards: 1, segmentSize: 1 << 20))
        var model: [String: String] = [:]
        var ends: [Int] = []
        var states: [[String: String]] = []
        let segment = dir.path + "/shard-000/00000001.log"
        for i in 0..<n {
            let k = "k\(i % 37)"
            if i % 5 == 4, model[k] != nil {
                try store.delete(bytes(k))
                model[k] = nil
            } else {
                let v = "v\(i)"
                try store.put(bytes(k), bytes(v))
                model[k] = v
            }
            ends.append(readFile(segment).count)
            states.append(model)
        }
        try store.close()
        return (readFile(segment), ends, states)
    }

    @Test func truncationAtEveryOffset() throws {
        let source = TemporaryDirectory()
        let (log, ends, states) = try buildLog(source, records: 300)
        #expect(ends.count == 300)
        let scratch = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: scratch.sub("shard-000"), withIntermediateDirectories: true)
        writeFile(scratch.sub("cask.meta"), readFile(source.sub("cask.meta")))
        writeFile(scratch.sub("shard-000/MANIFEST"), readFile(source.sub("shard-000/MANIFEST")))
        var checked = 0
        for offset in 0...log.count {
            writeFile(scratch.sub("shard-000/00000001.log"), Array(log[0..<offset]))
            try? FileManager.default.removeItem(atPath: scratch.sub("shard-000/lock"))
            let complete = ends.lastIndex(where: { $0 <= offset })
            let expected = complete.map { states[$0] } ?? [:]
            let validEnd = complete.map { ends[$0] } ?? 0
            let store = try Store(directory: scratch.path, options: .testing(shards: 1, segmentSize: 1 << 20))
            let report = store.recoveryReport
            #expect(report.truncatedBytes == offset - validEnd, "offset \(offset)")
            #expect(report.corruptRanges.isEmpty, "offset \(offset)")
            #expect(try store.count == expected.count, "offset \(offset)")
            for (k, v) in expected where text(try store.get(bytes(k))) != v {
                Issue.record("offset \(offset): \(k) should be \(v)")
            }
            // The log was cut back to the last complete record.
            #expect(readFile(scratch.sub("shard-000/00000001.log")).count == validEnd)
            try store.close()
            checked += 1
        }
        #expect(checked == log.count + 1)
    }

    @Test func corruptionInTheMiddleKeepsWhatFollows() throws {
        let source = TemporaryDirectory()
        let (log, ends, _) = try buildLog(source, records: 120)
        // Damage a byte in the value area of record 60 (a put: 60 % 5 != 4).
        let start = ends[59]
        var damaged = log
        damaged[start + RecordHeader.size + 2] ^= 0xFF
        writeFile(source.sub("shard-000/00000001.log"), damaged)
        try? FileManager.default.removeItem(atPath: source.sub("shard-000/lock"))
        let store = try Store(directory: source.path, options: .testing(shards: 1, segmentSize: 1 << 20))
        let report = store.recoveryReport
        #expect(report.truncatedBytes == 0)
        #expect(report.corruptRanges.count == 1)
        #expect(report.corruptRanges.first?.offset == start)
        #expect(report.corruptRanges.first?.length == ends[60] - start)
        // Records after the damage are all there: the last writes of k7 and k26.
        #expect(text(try store.get(bytes("k\(118 % 37)"))) == "v118")
        #expect(text(try store.get(bytes("k\(100 % 37)"))) == "v100")
        // Nothing was truncated: the file still holds every byte.
        #expect(readFile(source.sub("shard-000/00000001.log")).count == log.count)
        #expect(try store.checkInvariants() == nil)
    }

    @Test func zeroFilledTailIsTruncated() throws {
        let source = TemporaryDirectory()
        let (log, _, states) = try buildLog(source, records: 50)
        writeFile(source.sub("shard-000/00000001.log"), log + [UInt8](repeating: 0, count: 4096))
        try? FileManager.default.removeItem(atPath: source.sub("shard-000/lock"))
        let store = try Store(directory: source.path, options: .testing(shards: 1, segmentSize: 1 << 20))
        #expect(store.recoveryReport.truncatedBytes == 4096)
        #expect(try store.count == states.last!.count)
    }

    /// A writer that dies after writing part of a record (holding the lock) leaves bytes past the
    /// committed end; the next writer, in any process, cuts them before appending.
    @Test func deadWriterTailIsRepairedByTheNextWriter() throws {
        let dir = TemporaryDirectory()
        let a = try Store(directory: dir.path, options: .testing(shards: 1))
        try a.put(bytes("x"), bytes("1"))
        let segment = dir.sub("shard-000/00000001.log")
        let half = RecordCodec.encode(kind: .put, sequence: 99, storeTime: 1, expireTime: 0, key: bytes("ghost"), value: bytes("boo"))
        // In place (same inode): what a dying writer leaves behind.
        let handle = try #require(FileHandle(forWritingAtPath: segment))
        handle.seekToEndOfFile()
        handle.write(Data(half.prefix(30)))
        try handle.close()
        a.shards[0].shared.store(.writer, 424242)
        let b = try Store(directory: dir.path, options: .testing(shards: 1))
        try b.put(bytes("y"), bytes("2"))
        #expect(text(try a.get(bytes("y"))) == "2")
        #expect(try a.get(bytes("ghost")) == nil)
        try a.close()
        try b.close()
        let c = try Store(directory: dir.path, options: .testing(shards: 1))
        #expect(c.recoveryReport.isClean)
        #expect(text(try c.get(bytes("x"))) == "1")
        #expect(text(try c.get(bytes("y"))) == "2")
    }

    @Test func missingManifestIsReportedNotGuessed() throws {
        let dir = TemporaryDirectory()
        do {
            let s = try Store(directory: dir.path, options: .testing(shards: 1))
            try s.put(bytes("a"), bytes("b"))
        }
        try FileManager.default.removeItem(atPath: dir.sub("shard-000/MANIFEST"))
        #expect {
            try Store(directory: dir.path, options: .testing(shards: 1))
        } throws: { ($0 as? CaskError)?.code == .corrupted }
    }
}
