import CaskTestSupport
import Foundation
import Testing
@testable import CaskStore

@Suite("Store basics")
struct StoreTests {
    @Test func putGetDeleteTouch() throws {
        let dir = TemporaryDirectory()
        let store = try Store(directory: dir.path, options: .testing())
        #expect(try store.get(bytes("a")) == nil)
        try store.put(bytes("a"), bytes("1"))
        try store.put(bytes("b"), bytes("2"), tag: bytes("t"))
        #expect(text(try store.get(bytes("a"))) == "1")
        try store.put(bytes("a"), bytes("one"))
        #expect(text(try store.get(bytes("a"))) == "one")
        #expect(try store.count == 2)
        #expect(try store.delete(bytes("a")))
        #expect(try !store.delete(bytes("a")))
        #expect(try store.get(bytes("a")) == nil)
        let tag = try bytes("b").withUnsafeBytes { k in try store.read(k) { Array($0.tag) } }
        #expect(tag == bytes("t"))
        #expect(try store.touch(bytes("b"), expireTime: 5_000))
        #expect(try !store.touch(bytes("zz"), expireTime: 5_000))
        // Expiry is judged against the caller's clock.
        #expect(text(try store.get(bytes("b"), now: 4_999)) == "2")
        #expect(try store.get(bytes("b"), now: 5_000) == nil)
        #expect(try !store.delete(bytes("b"), now: 6_000))
        // Deleting an expired key removes it but does not count as present.
        #expect(try store.count == 0)
        try store.close()
        #expect(throws: CaskError.self) { try store.get(bytes("b")) }
    }

    /// Without a time, a read judges expiry by the wall clock — read only for an entry that can
    /// expire, so the entries here are on both sides of it, through every read entry point.
    @Test func aReadWithoutATimeUsesTheWallClock() throws {
        let dir = TemporaryDirectory()
        let store = try Store(directory: dir.path, options: .testing())
        let now = wallClockMicros()
        try store.put(bytes("past"), bytes("p"), expireTime: now - 1)
        try store.put(bytes("future"), bytes("f"), expireTime: now + 3_600_000_000)
        try store.put(bytes("never"), bytes("n"))
        #expect(try store.get(bytes("past")) == nil)
        #expect(text(try store.get(bytes("future"))) == "f")
        #expect(text(try store.get(bytes("never"))) == "n")
        func read(_ key: String) throws -> [UInt8]? {
            try bytes(key).withUnsafeBytes { k in try store.read(k) { Array($0.value) } }
        }
        func readValue(_ key: String) throws -> [UInt8]? {
            try bytes(key).withUnsafeBytes { k in
                guard case .value(let v) = try store.readValue(k, ifFlags: 0, now: nil) else { return nil }
                return v
            }
        }
        for look in [read, readValue] {
            #expect(try look("past") == nil)
            #expect(try look("future") == bytes("f"))
            #expect(try look("never") == bytes("n"))
        }
        // A given time still decides: the past entry was live before it expired.
        #expect(text(try store.get(bytes("past"), now: now - 2)) == "p")
        #expect(try store.get(bytes("future"), now: now + 3_600_000_000) == nil)
        try store.close()
    }

    @Test func emptyKeysAndValuesAndBinary() throws {
        let dir = TemporaryDirectory()
        let store = try Store(directory: dir.path, options: .testing())
        try store.put([], [])
        try store.put([0, 255, 0], [0, 0, 0, 1])
        #expect(try store.get([]) == [])
        #expect(try store.get([0, 255, 0]) == [0, 0, 0, 1])
    }

    @Test func limitsAreEnforced() throws {
        let dir = TemporaryDirectory()
        let store = try Store(directory: dir.path, options: .testing())
        let longKey = [UInt8](repeating: 1, count: RecordHeader.maxKeyLength + 1)
        #expect(throws: CaskError.self) { try store.put(longKey, [1]) }
        #expect(throws: CaskError.self) { try Store(directory: dir.sub("x"), options: { var o = StoreOptions.testing(); o.shardCount = 0; return o }()) }
    }

    @Test func everythingSurvivesReopen() throws {
        let dir = TemporaryDirectory()
        var expected: [String: String] = [:]
        do {
            let store = try Store(directory: dir.path, options: .testing(segmentSize: 4096))
            for i in 0..<500 {
                let k = "key-\(i % 170)"
                let v = "value-\(i)-" + String(repeating: "x", count: i % 40)
                try store.put(bytes(k), bytes(v))
                expected[k] = v
                if i % 7 == 0 {
                    let d = "key-\((i * 3) % 170)"
                    try store.delete(bytes(d))
                    expected[d] = nil
                }
            }
            try store.close()
        }
        let store = try Store(directory: dir.path, options: .testing(segmentSize: 4096))
        #expect(store.recoveryReport.isClean)
        #expect(try store.count == expected.count)
        for i in 0..<170 {
            let k = "key-\(i)"
            #expect(text(try store.get(bytes(k))) == expected[k], "\(k)")
        }
    }

    @Test func shardCountIsPersisted() throws {
        let dir = TemporaryDirectory()
        do {
            var o = StoreOptions.testing(shards: 3)
            o.shardCount = 3
            let store = try Store(directory: dir.path, options: o)
            for i in 0..<50 { try store.put(bytes("k\(i)"), bytes("v\(i)")) }
        }
        let store = try Store(directory: dir.path, options: .testing(shards: 7))
        #expect(store.shardCount == 3)
        for i in 0..<50 { #expect(text(try store.get(bytes("k\(i)"))) == "v\(i)") }
    }

    /// A store of an older format opens with its data and is marked format 3, so a release that
    /// only knows the older protocol refuses it rather than write beside this one: format 1's
    /// writers took `flock`; format 2's cut segment files without lowering the shared header's
    /// allocated position.
    @Test(arguments: [1, 2])
    func anOlderStoreIsUpgradedOnOpen(format: Int) throws {
        let dir = TemporaryDirectory()
        do {
            let store = try Store(directory: dir.path, options: .testing(shards: 3))
            for i in 0..<20 { try store.put(bytes("k\(i)"), bytes("v\(i)")) }
            try store.close()
        }
        #expect(text(readFile(dir.sub("cask.meta"))) == "cask-format 3\nshards 3\n")
        writeFile(dir.sub("cask.meta"), bytes("cask-format \(format)\nshards 3\n"))
        // A format-1 header as it was left: its magic names the protocol without the lock in the page.
        for shard in 0..<3 where format == 1 {
            let lock = dir.sub("shard-00\(shard)/lock")
            var header = readFile(lock)
            header.replaceSubrange(0..<8, with: bytes("CASKSHM1"))
            writeFile(lock, header)
        }
        let store = try Store(directory: dir.path, options: .testing())
        #expect(store.shardCount == 3)
        #expect(text(readFile(dir.sub("cask.meta"))) == "cask-format 3\nshards 3\n")
        for i in 0..<20 { #expect(text(try store.get(bytes("k\(i)"))) == "v\(i)") }
        try store.put(bytes("new"), bytes("written"))
        #expect(text(try store.get(bytes("new"))) == "written")
        try store.close()
    }

    @Test func aForeignDirectoryIsRefused() throws {
        let dir = TemporaryDirectory()
        writeFile(dir.sub("notes.txt"), bytes("mine"))
        #expect {
            try Store(directory: dir.path, options: .testing())
        } throws: { error in
            (error as? CaskError)?.code == .notACache
        }
        writeFile(dir.sub("cask.meta"), bytes("cask-format 99\nshards 2\n"))
        #expect {
            try Store(directory: dir.path, options: .testing())
        } throws: { error in
            (error as? CaskError)?.code == .unsupportedVersion
        }
        // A plain file where the directory should be.
        writeFile(dir.sub("file"), bytes("x"))
        #expect(throws: CaskError.self) { try Store(directory: dir.sub("file"), options: .testing()) }
    }

    @Test func mutateIsAtomicReadModifyWrite() throws {
        let dir = TemporaryDirectory()
        let store = try Store(directory: dir.path, options: .testing())
        let threads = 4
        let perThread = 250
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            for _ in 0..<perThread {
                try! store.mutate(bytes("counter")) { view -> (Mutation, Void) in
                    let n = view.map { Int(String(decoding: $0.value, as: UTF8.self))! } ?? 0
                    return (.put(value: bytes(String(n + 1))), ())
                }
            }
        }
        #expect(text(try store.get(bytes("counter"))) == String(threads * perThread))
    }

    @Test func twoHandlesSeeEachOthersWrites() throws {
        let dir = TemporaryDirectory()
        let a = try Store(directory: dir.path, options: .testing(segmentSize: 4096))
        let b = try Store(directory: dir.path, options: .testing(segmentSize: 4096))
        for i in 0..<300 {
            try a.put(bytes("k\(i)"), bytes("a\(i)"))
            #expect(text(try b.get(bytes("k\(i)"))) == "a\(i)")
            if i % 10 == 0 {
                try b.delete(bytes("k\(i)"))
                #expect(try a.get(bytes("k\(i)")) == nil)
            }
        }
        // A compaction by one handle switches the other to the new generation.
        try a.compact()
        #expect(text(try b.get(bytes("k11"))) == "a11")
        #expect(try b.get(bytes("k10")) == nil)
        try b.put(bytes("after"), bytes("compaction"))
        #expect(text(try a.get(bytes("after"))) == "compaction")
        _ = try b.clear()
        #expect(try a.get(bytes("k11")) == nil)
        #expect(try a.count == 0)
    }

    /// Opening and closing stores must not leak descriptors ("too many open files").
    @Test func openCloseDoesNotLeakDescriptors() throws {
        let dir = TemporaryDirectory()
        #if os(Linux)
        let descriptors = "/proc/self/fd"
        #else
        let descriptors = "/dev/fd"
        #endif
        func openDescriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: descriptors).count) ?? 0 }
        do {
            let s = try Store(directory: dir.path, options: .testing(shards: 4, segmentSize: 4096))
            for i in 0..<200 { try s.put(bytes("k\(i)"), [UInt8](repeating: 1, count: 100)) }
            try s.close()
        }
        let before = openDescriptors()
        for _ in 0..<50 {
            let s = try Store(directory: dir.path, options: .testing(shards: 4, segmentSize: 4096))
            _ = try s.get(bytes("k1"))
            try s.close()
        }
        // Other tests run in parallel and open files too: allow some slack, far below 50 x 4 shards.
        #expect(openDescriptors() - before < 40)
    }

    @Test func durabilityModesWork() throws {
        for mode: Durability in [.always, .interval(.milliseconds(5))] {
            let dir = TemporaryDirectory()
            var o = StoreOptions.testing()
            o.durability = mode
            let store = try Store(directory: dir.path, options: o)
            DispatchQueue.concurrentPerform(iterations: 4) { t in
                for i in 0..<50 { try! store.put(bytes("t\(t)-\(i)"), bytes("v")) }
            }
            try store.sync()
            for s in store.shards {
                #expect(s.shared.load(.durable) >= s.shared.load(.position), "\(mode)")
            }
            try store.close()
        }
    }
}
