import CaskTestSupport
import Foundation
import Testing
@testable import CaskStore

@Suite("Compaction")
struct CompactionTests {
    @Test func deletedKeysNeverComeBack() throws {
        let dir = TemporaryDirectory()
        let options = StoreOptions.testing(shards: 1, segmentSize: 4096)
        var model: [String: String] = [:]
        do {
            let store = try Store(directory: dir.path, options: options)
            for round in 0..<4 {
                for i in 0..<200 {
                    let k = "k\(i)"
                    if (i + round) % 3 == 0 {
                        try store.delete(bytes(k))
                        model[k] = nil
                    } else {
                        try store.put(bytes(k), bytes("r\(round)-\(i)"))
                        model[k] = "r\(round)-\(i)"
                    }
                }
                let results = try store.compact()
                #expect(results.count == 1)
                #expect(try store.checkInvariants() == nil)
                for i in 0..<200 { #expect(text(try store.get(bytes("k\(i)"))) == model["k\(i)"]) }
            }
            try store.close()
        }
        let reopened = try Store(directory: dir.path, options: options)
        #expect(reopened.recoveryReport.isClean)
        #expect(try reopened.count == model.count)
        for i in 0..<200 { #expect(text(try reopened.get(bytes("k\(i)"))) == model["k\(i)"]) }
    }

    @Test func compactionShrinksAndReopenUsesHints() throws {
        let dir = TemporaryDirectory()
        let options = StoreOptions.testing(shards: 1, segmentSize: 8192)
        do {
            let store = try Store(directory: dir.path, options: options)
            for round in 0..<10 {
                for i in 0..<100 { try store.put(bytes("k\(i)"), bytes("value-\(round)-\(i)")) }
            }
            let r = try #require(try store.compact().first)
            #expect(r.bytesAfter < r.bytesBefore / 5)
            #expect(r.recordsCopied == 100)
            try store.close()
        }
        let reopened = try Store(directory: dir.path, options: options)
        // Everything came from hint files: no record was scanned.
        #expect(reopened.recoveryReport.scannedRecords == 0)
        #expect(reopened.recoveryReport.isClean)
        for i in 0..<100 { #expect(text(try reopened.get(bytes("k\(i)"))) == "value-9-\(i)") }
        // Old segments are gone from the directory.
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.sub("shard-000")).filter { $0.hasSuffix(".log") }
        let manifest = try reopened.shards[0].readManifest()
        #expect(Set(files) == Set(manifest.segments.map { Segment.fileName($0.id) }))
    }

    @Test func touchedAndExpiredEntriesAreHandled() throws {
        let dir = TemporaryDirectory()
        let options = StoreOptions.testing(shards: 1, segmentSize: 4096)
        let store = try Store(directory: dir.path, options: options)
        let now = wallClockMicros()
        try store.put(bytes("stays"), bytes("1"), expireTime: now + 3_600_000_000)
        try store.put(bytes("gone"), bytes("2"), expireTime: now - 1)
        try store.touch(bytes("stays"), expireTime: now + 7_200_000_000)
        try store.compact()
        #expect(try store.count == 1)
        let expire = try bytes("stays").withUnsafeBytes { k in try store.read(k) { $0.expireTime } }
        #expect(expire == now + 7_200_000_000)
        try store.close()
        let reopened = try Store(directory: dir.path, options: options)
        let expire2 = try bytes("stays").withUnsafeBytes { k in try reopened.read(k) { $0.expireTime } }
        #expect(expire2 == now + 7_200_000_000)
        #expect(try reopened.get(bytes("gone")) == nil)
    }

    @Test func corruptHintFallsBackToScanning() throws {
        let dir = TemporaryDirectory()
        let options = StoreOptions.testing(shards: 1, segmentSize: 4096)
        do {
            let store = try Store(directory: dir.path, options: options)
            for i in 0..<100 { try store.put(bytes("k\(i)"), bytes("v\(i)")) }
            try store.compact()
            try store.close()
        }
        let hints = try FileManager.default.contentsOfDirectory(atPath: dir.sub("shard-000")).filter { $0.hasSuffix(".hint") }
        #expect(!hints.isEmpty)
        for h in hints {
            var b = readFile(dir.sub("shard-000/" + h))
            b[b.count / 2] ^= 0x10
            writeFile(dir.sub("shard-000/" + h), b)
        }
        let reopened = try Store(directory: dir.path, options: options)
        #expect(reopened.recoveryReport.rejectedHints == hints.count)
        for i in 0..<100 { #expect(text(try reopened.get(bytes("k\(i)"))) == "v\(i)") }
    }

    /// Writers keep going while another thread compacts; nothing acknowledged is lost.
    @Test func compactionRunsAlongsideWriters() throws {
        let dir = TemporaryDirectory()
        let store = try Store(directory: dir.path, options: .testing(shards: 2, segmentSize: 8192))
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            for _ in 0..<20 { _ = try? store.compact() }
            done.signal()
        }
        DispatchQueue.concurrentPerform(iterations: 2) { t in
            for i in 0..<2000 { try! store.put(bytes("t\(t)-\(i % 300)"), bytes("\(i)")) }
        }
        done.wait()
        #expect(try store.checkInvariants() == nil)
        for t in 0..<2 {
            for k in 0..<300 {
                let last = (0..<2000).last { $0 % 300 == k }!
                #expect(text(try store.get(bytes("t\(t)-\(k)"))) == "\(last)")
            }
        }
    }

    @Test func automaticCompactionTriggers() throws {
        let dir = TemporaryDirectory()
        var options = StoreOptions.testing(shards: 1, segmentSize: 8192)
        options.automaticCompaction = true
        options.compactionMinimumDeadBytes = 16 << 10
        let store = try Store(directory: dir.path, options: options)
        for round in 0..<50 {
            for i in 0..<50 { try store.put(bytes("k\(i)"), bytes("value-\(round)")) }
        }
        // The compaction runs in the background; wait for it to bring dead bytes down.
        var dead = Int.max
        for _ in 0..<1000 {
            dead = store.shards[0].state.withLock { $0.deadBytes }
            if dead < 16 << 10 { break }
            Thread.sleep(forTimeInterval: 0.01)
        }
        #expect(dead < 16 << 10)
        for i in 0..<50 { #expect(text(try store.get(bytes("k\(i)"))) == "value-49") }
    }
}
