import CaskTestSupport
import Foundation
import Testing

/// `cask fetch` as scripts use it: output, JSON fields and exit codes.
@Suite("cask fetch", .serialized)
struct FetchToolTests {
    struct Run {
        var status: Int32
        var stdout: String
    }

    func cask(_ args: [String]) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: builtExecutable("cask"))
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: data, as: UTF8.self))
    }

    func json(_ run: Run) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
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
}
