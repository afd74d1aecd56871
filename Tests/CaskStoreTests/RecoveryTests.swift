import CaskTestSupport
import Foundation
import Testing
@testable import CaskStore

@Suite("Recovery")
struct RecoveryTests {
    /// Builds a one-shard store with `n` records (puts and some deletes) and returns the segment
    /// bytes up to the committed end (without the space allocated past it), the end offset after
    /// each record, and the model state after each record.
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
            ends.append(committedEnd(store))
            states.append(model)
        }
        try store.close()
        return (Array(readFile(segment).prefix(ends.last ?? 0)), ends, states)
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
            // Zero bytes after the last record are taken for space allocated ahead, not counted
            // (a cut inside a checksum can leave only zeros).
            let torn = log[validEnd..<offset]
            let tornData = torn.lastIndex(where: { $0 != 0 }).map { $0 + 1 - validEnd } ?? 0
            #expect(report.truncatedBytes == tornData, "offset \(offset)")
            #expect(report.corruptRanges.isEmpty, "offset \(offset)")
            #expect(try store.count == expected.count, "offset \(offset)")
            for (k, v) in expected where text(try store.get(bytes(k))) != v {
                Issue.record("offset \(offset): \(k) should be \(v)")
            }
            // The log was cut back to the last complete record (zeros alone are left in place).
            #expect(readFile(scratch.sub("shard-000/00000001.log")).count == (tornData > 0 ? validEnd : offset))
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

    /// Zeros after the last record are the space allocated ahead of the writers: kept, not
    /// reported, and written over by the next record, which survives a reopen.
    @Test func zeroFilledTailIsAllocatedSpace() throws {
        let source = TemporaryDirectory()
        let (log, _, states) = try buildLog(source, records: 50)
        let segment = source.sub("shard-000/00000001.log")
        writeFile(segment, log + [UInt8](repeating: 0, count: 4096))
        try? FileManager.default.removeItem(atPath: source.sub("shard-000/lock"))
        let store = try Store(directory: source.path, options: .testing(shards: 1, segmentSize: 1 << 20))
        #expect(store.recoveryReport.isClean)
        #expect(store.recoveryReport.truncatedBytes == 0)
        #expect(readFile(segment).count >= log.count + 4096)
        #expect(try store.count == states.last!.count)
        #expect(committedEnd(store) == log.count)
        try store.put(bytes("after"), bytes("zeros"))
        try store.close()
        try? FileManager.default.removeItem(atPath: source.sub("shard-000/lock"))
        let again = try Store(directory: source.path, options: .testing(shards: 1, segmentSize: 1 << 20))
        #expect(again.recoveryReport.isClean)
        #expect(text(try again.get(bytes("after"))) == "zeros")
        #expect(try again.count == states.last!.count + 1)
        try again.close()
    }

    /// A record cut short, then zeros (a crash after the record's first bytes reached space
    /// allocated ahead): the torn bytes are counted up to the last non-zero one and cut.
    @Test func tornRecordBeforeAllocatedSpaceIsCut() throws {
        let source = TemporaryDirectory()
        let (log, _, states) = try buildLog(source, records: 50)
        let segment = source.sub("shard-000/00000001.log")
        let half = RecordCodec.encode(kind: .put, sequence: 9_999, storeTime: 1, expireTime: 0, key: bytes("torn"), value: bytes("record"))
        writeFile(segment, log + Array(half.prefix(30)) + [UInt8](repeating: 0, count: 4096))
        try? FileManager.default.removeItem(atPath: source.sub("shard-000/lock"))
        let store = try Store(directory: source.path, options: .testing(shards: 1, segmentSize: 1 << 20))
        let tornData = Array(half.prefix(30)).lastIndex(where: { $0 != 0 })! + 1
        #expect(store.recoveryReport.truncatedBytes == tornData)
        #expect(store.recoveryReport.corruptRanges.isEmpty)
        #expect(readFile(segment).count == log.count)
        #expect(try store.get(bytes("torn")) == nil)
        #expect(try store.count == states.last!.count)
        try store.close()
    }

    /// A writer that dies after writing part of a record (holding the lock) leaves bytes past the
    /// committed end, in the space allocated ahead; the next writer, in any process, cuts them
    /// (and that space) before appending. The first handle's bound on the allocated space is then
    /// stale: its next append extends the file itself.
    @Test func deadWriterTailIsRepairedByTheNextWriter() throws {
        let dir = TemporaryDirectory()
        let a = try Store(directory: dir.path, options: .testing(shards: 1))
        try a.put(bytes("x"), bytes("1"))
        // Open before the writer dies: the repair is the next writer's, not recovery's at open.
        let b = try Store(directory: dir.path, options: .testing(shards: 1))
        let segment = dir.sub("shard-000/00000001.log")
        let end = committedEnd(a)
        #expect(readFile(segment).count > end, "no space was allocated ahead")
        let half = RecordCodec.encode(kind: .put, sequence: 99, storeTime: 1, expireTime: 0, key: bytes("ghost"),
                                      value: [UInt8](repeating: 0x42, count: 400))
        // In place (same inode), at the committed end: what a dying writer leaves behind, longer
        // than the records written after it.
        let handle = try #require(FileHandle(forWritingAtPath: segment))
        try handle.seek(toOffset: UInt64(end))
        handle.write(Data(half.prefix(300)))
        try handle.close()
        a.shards[0].shared.store(.writer, 424242)
        try b.put(bytes("y"), bytes("2"))
        // Past the new committed end: zeros of the space allocated again, none of the ghost.
        #expect(readFile(segment).dropFirst(committedEnd(b)).allSatisfy { $0 == 0 }, "the dead writer's bytes were left")
        #expect(text(try a.get(bytes("y"))) == "2")
        #expect(try a.get(bytes("ghost")) == nil)
        try a.put(bytes("z"), bytes("3"))
        #expect(text(try b.get(bytes("z"))) == "3")
        try a.close()
        try b.close()
        let c = try Store(directory: dir.path, options: .testing(shards: 1))
        #expect(c.recoveryReport.isClean)
        #expect(text(try c.get(bytes("x"))) == "1")
        #expect(text(try c.get(bytes("y"))) == "2")
        #expect(text(try c.get(bytes("z"))) == "3")
        #expect(try c.get(bytes("ghost")) == nil)
        #expect(try c.checkInvariants() == nil)
        try c.close()
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
