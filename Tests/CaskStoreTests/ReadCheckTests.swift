import CaskTestSupport
import Foundation
import Testing
@testable import CaskStore

/// `StoreOptions.checkRecordsOnce` (a record's CRC checked once per handle, remembered in its
/// index entry) and the release of replaced shard states off the caller's locks.
@Suite("Read checks")
struct ReadCheckTests {
    /// Flips a bit of the first occurrence of `marker` in a log file of shard 0 of the store in
    /// `dir`, with `pwrite` (the store maps its files shared, so an open handle sees it).
    private func damage(_ dir: TemporaryDirectory, at marker: [UInt8]) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.sub("shard-000")).filter { $0.hasSuffix(".log") }
        for name in names {
            let path = dir.sub("shard-000/" + name)
            let file = readFile(path)
            guard file.count >= marker.count,
                  let start = (0...(file.count - marker.count)).first(where: { file[$0..<($0 + marker.count)].elementsEqual(marker) })
            else { continue }
            var byte = file[start + 1] ^ 0x20
            let fd = open(path, O_WRONLY)
            #expect(fd >= 0)
            #expect(pwrite(fd, &byte, 1, off_t(start + 1)) == 1)
            close(fd)
            return
        }
        Issue.record("no log file holds the marker")
    }

    private func options(once: Bool) -> StoreOptions {
        var o = StoreOptions.testing(shards: 1, segmentSize: 1 << 20)
        o.checkRecordsOnce = once
        return o
    }

    @Test func byDefaultEveryReadIsChecked() throws {
        let dir = TemporaryDirectory()
        let store = try Store(directory: dir.path, options: options(once: false))
        defer { try? store.close() }
        try store.put(bytes("k"), bytes("value-one-of-k"))
        for _ in 0..<3 { #expect(try store.get(bytes("k")) == bytes("value-one-of-k")) }
        try damage(dir, at: bytes("value-one-of-k"))
        #expect(try store.get(bytes("k")) == nil)
        let seen: Bool? = try bytes("k").withUnsafeBytes { k in try store.read(k) { _ in true } }
        #expect(seen == nil, "the generic read checks too")
        #expect(store.recoveryReport.corruptRanges.count >= 1)
    }

    /// With the option, a record this handle wrote is not checked again: damage made behind the
    /// store's back afterwards is handed out (the documented price). A record it has not checked
    /// (indexed from a hint file at open, never read) is checked on its first read, and a damaged
    /// one is reported and absent, as by default.
    @Test func checkingOnceSkipsOnlyRecordsAlreadyChecked() throws {
        let dir = TemporaryDirectory()
        do {
            let store = try Store(directory: dir.path, options: options(once: true))
            try store.put(bytes("k"), bytes("value-one-of-k"))
            #expect(try store.get(bytes("k")) == bytes("value-one-of-k"))
            try damage(dir, at: bytes("value-one-of-k"))
            let changed = try #require(try store.get(bytes("k")))
            #expect(changed != bytes("value-one-of-k"), "checked when written: the damage is not seen")
            #expect(store.recoveryReport.corruptRanges.isEmpty)
            try store.close()
        }
        // A fresh log whose records are indexed from a hint file (written by compaction), then
        // damaged before any read: the first read checks.
        let fresh = TemporaryDirectory()
        do {
            let store = try Store(directory: fresh.path, options: options(once: true))
            for i in 0..<20 { try store.put(bytes("key-\(i)"), bytes("value-of-key-\(i)-long")) }
            for i in 0..<20 where i % 2 == 0 { _ = try store.delete(bytes("key-\(i)")) }
            _ = try store.compact()
            try store.close()
        }
        let hinted = try FileManager.default.contentsOfDirectory(atPath: fresh.sub("shard-000")).filter { $0.hasSuffix(".hint") }
        #expect(!hinted.isEmpty, "compaction wrote hints")
        try damage(fresh, at: bytes("value-of-key-7-long"))
        let store = try Store(directory: fresh.path, options: options(once: true))
        defer { try? store.close() }
        #expect(try store.get(bytes("key-7")) == nil)
        #expect(store.recoveryReport.corruptRanges.count == 1)
        #expect(try store.get(bytes("key-9")) == bytes("value-of-key-9-long"))
        #expect(try store.get(bytes("key-9")) == bytes("value-of-key-9-long"))
    }

    /// Compaction moves a checked record to a new segment: the copy is not the bytes that were
    /// checked, so with the option its first read checks it again.
    @Test func aRelocatedRecordIsCheckedAgain() throws {
        let dir = TemporaryDirectory()
        let store = try Store(directory: dir.path, options: options(once: true))
        defer { try? store.close() }
        try store.put(bytes("k"), bytes("value-one-of-k"))
        for i in 0..<20 { try store.put(bytes("dead"), bytes("overwritten-\(i)")) }
        #expect(try store.get(bytes("k")) == bytes("value-one-of-k"))
        #expect(try store.compact().count == 1)
        // The compacted copy is the only one left: damage it under the open store.
        try damage(dir, at: bytes("value-one-of-k"))
        #expect(try store.get(bytes("k")) == nil)
        #expect(store.recoveryReport.corruptRanges.count == 1)
    }

    @Test func whetherAnEntryWasCheckedIsNotPartOfItsEquality() {
        var a = IndexEntry(segment: 1, offset: 64, length: 90, tag: 0, expireTime: 0)
        let b = a
        a.checked = true
        #expect(a == b)
        a.offset = 65
        #expect(a != b)
        #expect(MemoryLayout<IndexEntry>.stride == 32)
    }

    /// A handle that follows another handle's compaction replaces its state; the old state (with
    /// the descriptors of the segments the compaction unlinked) is released on a background queue,
    /// not held: after `close()` (which also waits for that queue), no unlinked segment of the
    /// store is open.
    @Test func aClosedStoreLeavesNoUnlinkedSegmentOpen() throws {
        let dir = TemporaryDirectory()
        let reader = try Store(directory: dir.path, options: options(once: false))
        let writer = try Store(directory: dir.path, options: options(once: false))
        for round in 0..<3 {
            for i in 0..<200 { try writer.put(bytes("key-\(i)"), Array(repeating: UInt8(round), count: 300)) }
            try writer.sync()
            #expect(try reader.get(bytes("key-5")) == Array(repeating: UInt8(round), count: 300))
            #expect(try writer.compact().count == 1)
            #expect(try reader.get(bytes("key-6")) == Array(repeating: UInt8(round), count: 300))
        }
        try reader.close()
        try writer.close()
        #if os(Linux)
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")
        let open = fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0) }
        #expect(open.filter { $0.hasPrefix(dir.path) && $0.hasSuffix(" (deleted)") }.isEmpty)
        #else
        // No /proc to list the descriptors: the stores' reads above are what is checked here.
        #endif
    }

    /// `close()` waits for the replaced states still on the release queue: with the queue held,
    /// a close does not return; once it runs, the close does.
    @Test func closeWaitsForTheReleaseQueue() throws {
        let dir = TemporaryDirectory()
        let reader = try Store(directory: dir.path, options: options(once: false))
        let writer = try Store(directory: dir.path, options: options(once: false))
        defer { try? writer.close() }
        for i in 0..<200 { try writer.put(bytes("key-\(i)"), Array(repeating: 1, count: 300)) }
        #expect(try reader.get(bytes("key-5")) == Array(repeating: 1, count: 300))
        #expect(try writer.compact().count == 1)
        Shard.releaseQueue.suspend()
        var resumed = false
        defer { if !resumed { Shard.releaseQueue.resume() } }
        #expect(try reader.get(bytes("key-6")) == Array(repeating: 1, count: 300), "follows the compaction")
        let closed = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            try? reader.close()
            closed.signal()
        }
        #expect(closed.wait(timeout: .now() + 0.3) == .timedOut, "close waits while a release is queued")
        Shard.releaseQueue.resume()
        resumed = true
        #expect(closed.wait(timeout: .now() + 10) == .success)
    }
}
