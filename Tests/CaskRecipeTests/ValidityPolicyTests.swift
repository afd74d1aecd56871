import CaskTestSupport
import Foundation
import Synchronization
import CaskStore
import Testing
@testable import Cask

@Suite("Validity policies")
struct ValidityPolicyTests {
    /// The daily-cache case: computed at 09:00, served at 15:00, recomputed the next morning at 06:00.
    @Test func dailyCache() throws {
        let f = try makeCache()   // the clock starts at 2026-01-01 09:00 UTC
        let utc = TimeZone(identifier: "UTC")!
        let runs = Counter()
        let report = f.cache.memoize(name: "daily-report", validity: [.calendarPeriod(.day, in: utc)]) { (region: String) in
            "\(region) report #\(runs.bump())"
        }
        #expect(try report("emea") == "emea report #1")        // 09:00
        f.clock.advance(by: 6 * 3600)                               // 15:00
        #expect(try report("emea") == "emea report #1")
        f.clock.advance(by: 15 * 3600)                              // next day 06:00
        #expect(try report("emea") == "emea report #2")
        f.clock.advance(by: 17 * 3600 + 59 * 60)                   // 23:59
        #expect(try report("emea") == "emea report #2")
    }

    @Test func hourAndWeekPeriodsFollowTheTimeZone() throws {
        let f = try makeCache()
        let minus5 = TimeZone(secondsFromGMT: -5 * 3600)!  // 09:00 UTC is 04:00 there
        let runs = Counter()
        let daily = f.cache.memoize(name: "d", validity: [.calendarPeriod(.day, in: minus5)]) { (x: Int) in runs.bump() }
        let hourly = f.cache.memoize(name: "h", validity: [.calendarPeriod(.hour, in: minus5)]) { (x: Int) in runs.bump() }
        let weekly = f.cache.memoize(name: "w", validity: [.calendarPeriod(.week, in: minus5)]) { (x: Int) in runs.bump() }
        #expect(try daily(0) == 1 && hourly(0) == 2 && weekly(0) == 3)
        f.clock.advance(by: 59 * 60)                               // 09:59 UTC
        #expect(try daily(0) == 1 && hourly(0) == 2)
        f.clock.advance(by: 60)                                     // 10:00 UTC: a new hour
        #expect(try hourly(0) == 4)
        f.clock.advance(by: 19 * 3600 - 1)                          // 04:59:59 UTC next day = 23:59:59 local
        #expect(try daily(0) == 1)
        f.clock.advance(by: 1)                                      // local midnight
        #expect(try daily(0) == 5)
        // 2026-01-01 is a Thursday: the week runs to Monday 2026-01-05 00:00 local.
        #expect(try weekly(0) == 3)
        f.clock.set(1_767_589_200 - 1)                              // 2026-01-05 04:59:59 UTC
        #expect(try weekly(0) == 3)
        f.clock.advance(by: 1)
        #expect(try weekly(0) == 6)
    }

    @Test func timeToLiveCountsFromTheComputation() throws {
        let f = try makeCache()
        let runs = Counter()
        let g = f.cache.memoize(name: "ttl", validity: [.expires(after: .seconds(30))]) { (x: Int) in runs.bump() }
        #expect(try g(1) == 1)
        f.clock.advance(by: 29.9)
        #expect(try g(1) == 1)
        f.clock.advance(by: 0.1)
        #expect(try g(1) == 2)
        // `expire` alone (the engine's expiry) behaves the same way.
        let h = f.cache.memoize(name: "expire", expire: 10) { (x: Int) in runs.bump() }
        #expect(try h(1) == 3)
        f.clock.advance(by: 10)
        #expect(try h(1) == 4)
    }

    @Test func sourceFilesDetectChanges() throws {
        let f = try makeCache()
        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        let file = dir.path + "/input.csv"
        try "a,b\n1,2\n".write(toFile: file, atomically: false, encoding: .utf8)
        let runs = Counter()
        let parse = f.cache.memoize(name: "parse", validity: [.sourceFiles([file])]) { (x: Int) in runs.bump() }
        let hashed = f.cache.memoize(name: "parse-hashed", validity: [.sourceFiles([file], contentHash: true)]) { (x: Int) in runs.bump() }
        #expect(try parse(0) == 1 && hashed(0) == 2)
        #expect(try parse(0) == 1 && hashed(0) == 2)

        // touch: a new modification time.
        var times = [timespec(tv_sec: 1_700_000_000, tv_nsec: 0), timespec(tv_sec: 1_700_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, file, &times, 0) == 0)
        #expect(try parse(0) == 3 && hashed(0) == 4)

        // Rewritten in place with the same size, and the old time put back (as a rewrite within the
        // file system's timestamp granularity looks): only the content hash notices.
        try "a,b\n3,4\n".write(toFile: file, atomically: false, encoding: .utf8)
        #expect(utimensat(AT_FDCWD, file, &times, 0) == 0)
        #expect(try parse(0) == 3, "size, time and inode are unchanged")
        #expect(try hashed(0) == 5)

        // Replaced by renaming another file over it (same contents, same time): a new inode.
        let other = dir.path + "/next.csv"
        try "a,b\n3,4\n".write(toFile: other, atomically: false, encoding: .utf8)
        #expect(utimensat(AT_FDCWD, other, &times, 0) == 0)
        #expect(rename(other, file) == 0)
        #expect(try parse(0) == 6 && hashed(0) == 7)

        // Deleted: a change; and coming back is a change again.
        #expect(unlink(file) == 0)
        #expect(try parse(0) == 8)
        #expect(try parse(0) == 8, "missing, and still missing: valid")
        try "x".write(toFile: file, atomically: false, encoding: .utf8)
        #expect(try parse(0) == 9)
    }

    @Test func sourceDirectoriesCoverTheirEntries() throws {
        let f = try makeCache()
        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.path + "/sub", withIntermediateDirectories: true)
        try "1".write(toFile: dir.path + "/sub/a.txt", atomically: false, encoding: .utf8)
        let runs = Counter()
        let build = f.cache.memoize(name: "build", validity: [.sourceFiles([dir.path])]) { (x: Int) in runs.bump() }
        #expect(try build(0) == 1 && build(0) == 1)
        try "22".write(toFile: dir.path + "/sub/a.txt", atomically: false, encoding: .utf8)
        #expect(try build(0) == 2)
        try "new".write(toFile: dir.path + "/sub/b.txt", atomically: false, encoding: .utf8)
        #expect(try build(0) == 3)
    }

    @Test func customPolicySeesTheMetadata() throws {
        let f = try makeCache()
        let runs = Counter()
        // Serve each result at most twice, and only while it was computed by version "v3".
        let g = f.cache.memoize(name: "custom", version: "v3",
                                validity: [.custom { $0.hits < 2 && $0.version == "v3" && $0.tag == "memo:custom" }],
                                trackAccess: true) { (x: Int) in
            runs.bump()
        }
        #expect(try g(1) == 1)
        f.clock.advance(by: 5)
        #expect(try g(1) == 1)
        #expect(try g(1) == 1)
        let info = try #require(try g.info(for: 1))
        #expect(info.hits == 2)
        #expect(info.lastAccess == f.clock.now)
        #expect(info.computedAt == f.clock.now - 5)
        #expect(info.argumentsKey == #"{"fn":"custom","v":"v3","x":1}"#)
        #expect(try g(1) == 2, "the third hit is refused")
        #expect(try g.info(for: 1)?.hits == 0)
    }

    @Test func policiesCompose() throws {
        let f = try makeCache()
        let runs = Counter()
        let allowed = Locked(true)
        let g = f.cache.memoize(name: "both", validity: [.expires(after: .seconds(100)), .custom { _ in allowed.withLock { $0 } }]) {
            (x: Int) in runs.bump()
        }
        #expect(try g(1) == 1 && g(1) == 1)
        allowed.withLock { $0 = false }
        #expect(try g(1) == 2)
        allowed.withLock { $0 = true }
        f.clock.advance(by: 100)
        #expect(try g(1) == 3)
    }
}
