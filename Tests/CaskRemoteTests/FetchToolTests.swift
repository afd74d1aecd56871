import CaskTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `cask fetch` as scripts use it: output, JSON fields and exit codes.
@Suite("cask fetch", .serialized)
struct FetchToolTests {
    typealias Run = CaskRun

    func cask(_ args: [String]) throws -> Run { try runCask(args) }

    func json(_ run: Run) throws -> [String: Any] { try run.json() }

    /// An object over an entry's share of the size limit exits 2 with nothing stored; `--size-limit`
    /// stores a larger limit in the cache's settings, and then the object fits.
    @Test func sizeLimitOptionLetsALargerObjectIn() async throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        let dir = TemporaryDirectory("cask-fetch-limit")
        let cacheDir = dir.sub("cache")
        try origin.put("data.bin", [UInt8](repeating: 3, count: 64 << 10))
        let url = origin.url("/files/data.bin")
        let refused = try cask(["fetch", cacheDir, url, "--shards", "2", "--size-limit", "64KiB"])
        #expect(refused.status == 2)
        #expect(refused.stdout.isEmpty)
        let fits = try cask(["fetch", cacheDir, url, "--size-limit", "1MiB"])
        #expect(fits.status == 0)
        let path = fits.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(FileManager.default.contents(atPath: path)?.count == 64 << 10)
        // The limit is stored: a later run without the option keeps it.
        #expect(try cask(["fetch", cacheDir, url]).status == 0)
        #expect(try cask(["fetch", cacheDir, url, "--size-limit", "1,2"]).status == 2)
    }

    @Test func fetchPrintsThePathAndReportsWhatHappened() async throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        let dir = TemporaryDirectory("cask-fetch-cli")
        let cacheDir = dir.sub("cache")
        try origin.put("report.csv", bytes("a,b\n"))
        let url = origin.url("/files/report.csv")

        let plain = try cask(["fetch", cacheDir, url])
        #expect(plain.status == 0)
        let path = plain.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(FileManager.default.contents(atPath: path) == Data("a,b\n".utf8))

        let cached = try json(try cask(["fetch", cacheDir, url, "--json"]))
        #expect(cached["source"] as? String == "cache" && cached["changed"] as? Bool == false)
        #expect(cached["size"] as? Int == 4 && cached["etag"] is String && cached["last_modified"] is String)

        try origin.put("report.csv", bytes("a,b\n1,2\n"))
        let within = try json(try cask(["fetch", cacheDir, url, "--json", "--revalidate-after", "3600"]))
        #expect(within["source"] as? String == "cache" && within["size"] as? Int == 4)
        let changed = try json(try cask(["fetch", cacheDir, url, "--json"]))
        #expect(changed["source"] as? String == "network" && changed["changed"] as? Bool == true && changed["size"] as? Int == 8)

        // 404 without a local copy: exit 1. With one: the stale copy, exit 0.
        #expect(try cask(["fetch", cacheDir, origin.url("/files/none.csv")]).status == 1)
        try origin.remove("report.csv")
        let stale = try cask(["fetch", cacheDir, url, "--json"])
        #expect(try stale.status == 0 && (json(stale))["source"] as? String == "stale")

        // Unreachable without a local copy: exit 4.
        origin.stop()
        #expect(try cask(["fetch", cacheDir, origin.url("/files/other.csv"), "--timeout", "2"]).status == 4)
        #expect(try cask(["fetch", cacheDir, "ftp://nowhere/x"]).status == 2)
    }

    @Test func processesFetchingOneObjectDownloadItOnce() async throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        let dir = TemporaryDirectory("cask-fetch-procs")
        let content = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try origin.put("shared.bin", content)
        let url = origin.url("/files/shared.bin")
        // Three processes at once on one cache directory.
        let runs = try await withThrowingTaskGroup(of: Run.self) { group in
            for _ in 0..<3 { group.addTask { try self.cask(["fetch", dir.sub("cache"), url]) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(runs.allSatisfy { $0.status == 0 })
        let paths = Set(runs.map { $0.stdout.trimmingCharacters(in: .whitespacesAndNewlines) })
        #expect(paths.count == 1)
        #expect(FileManager.default.contents(atPath: try #require(paths.first)) == Data(content))
        #expect(try await origin.counts("shared.bin").ok == 1)
    }

    @Test func repeatTimesFetchesInOneProcess() throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        let dir = TemporaryDirectory("cask-fetch-repeat")
        try origin.put("small.csv", bytes("a\n"))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: builtExecutable("cask"))
        p.arguments = ["fetch", dir.sub("cache"), origin.url("/files/small.csv"), "--repeat", "5"]
        let err = Pipe()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(text.hasPrefix("5 fetches: p50 ") && text.contains("; counted in the cache: 5 not modified (304), 1 downloaded"), "\(text)")
    }

    /// A `cask fetch` killed (SIGKILL) in the middle of a download: the previous copy stays whole
    /// and current; the temporary file it was writing stays behind until `cask check --fix`,
    /// which removes such a file once it is more than a minute old (a younger one may be a
    /// download in flight); opening the cache does not touch it.
    @Test func killedDownloadKeepsTheOldCopyAndCheckFixRemovesItsTemporaryFile() async throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        let dir = TemporaryDirectory("cask-fetch-kill")
        let cacheDir = dir.sub("cache")
        let old = bytes("the good copy\n")
        try origin.put("big.bin", old)
        let url = origin.url("/files/big.bin")
        let first = try cask(["fetch", cacheDir, url])
        #expect(first.status == 0)
        let oldPath = first.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        // 16 MiB, sent slowly and held after 2 MiB while marked slow: killed after the first MiB is on disk.
        let big = [UInt8](repeating: 0x5A, count: 16 << 20)
        try origin.put("big.bin", big)
        try origin.mark("big.bin", "slow", on: true)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: builtExecutable("cask"))
        child.arguments = ["fetch", cacheDir, url]
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()
        defer { if child.isRunning { kill(child.processIdentifier, SIGKILL); child.waitUntilExit() } }
        let deadline = ContinuousClock.now + .seconds(15)
        while temporaryFiles(cacheDir).allSatisfy({ $0.size < 1 << 20 }) && child.isRunning && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(child.isRunning, "the download was still going")
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        #expect(child.terminationReason == .uncaughtSignal)
        let left = temporaryFiles(cacheDir)
        #expect(left.count == 1 && left.allSatisfy { $0.size >= 1 << 20 && $0.size < big.count })

        // The old copy is whole and still the current one.
        #expect(FileManager.default.contents(atPath: oldPath) == Data(old))
        let within = try json(try cask(["fetch", cacheDir, url, "--json", "--revalidate-after", "3600"]))
        #expect(within["source"] as? String == "cache" && within["path"] as? String == oldPath && within["size"] as? Int == old.count)

        // Young, the file is not an orphan yet; a minute old, check lists it and --fix removes it.
        #expect(try cask(["check", cacheDir]).status == 0)
        #expect(temporaryFiles(cacheDir).count == 1)
        var aged = [timespec(tv_sec: time(nil) - 120, tv_nsec: 0), timespec(tv_sec: time(nil) - 120, tv_nsec: 0)]
        for f in left { #expect(utimensat(AT_FDCWD, f.path, &aged, 0) == 0) }
        let report = try json(try cask(["check", cacheDir, "--json"]))
        #expect((report["orphan_value_files"] as? [String])?.count == 1)
        #expect(try cask(["check", cacheDir, "--fix"]).status == 0)
        #expect(temporaryFiles(cacheDir).isEmpty)
        #expect(FileManager.default.contents(atPath: oldPath) == Data(old))

        // The next complete download replaces the copy.
        try origin.mark("big.bin", "slow", on: false)
        let fresh = try json(try cask(["fetch", cacheDir, url, "--json"]))
        #expect(fresh["source"] as? String == "network" && fresh["size"] as? Int == big.count)
    }

    /// The temporary value files in a cache directory, with their sizes.
    func temporaryFiles(_ cacheDir: String) -> [(path: String, size: Int)] {
        let values = cacheDir + "/values"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: values)) ?? []).filter { $0.hasPrefix("tmp-") }
        return names.map { name in
            let size = (try? FileManager.default.attributesOfItem(atPath: values + "/" + name)[.size] as? Int) ?? 0
            return (values + "/" + name, size)
        }
    }
}
