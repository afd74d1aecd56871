import CaskTestSupport
import Foundation
import Testing

/// `cask bench --compare`: the peers in the same run, or exactly what is missing to run them.
@Suite("cask bench --compare")
struct BenchCompareTests {
    /// Runs `cask` with PATH set to `path` (the rest of the environment inherited).
    static func run(_ args: [String], path: String) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Tool.path)
        p.arguments = args
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = path
        p.environment = environment
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// The interpreter python3 runs (PATH's python3 may be a wrapper script).
    static let python: String? = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import sys; print(sys.executable)"]
        let out = Pipe()
        p.standardOutput = out
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let path = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return p.terminationStatus == 0 && !path.isEmpty ? path : nil
    }()

    static var peersInstalled: Bool {
        guard python != nil, FileManager.default.fileExists(atPath: "/usr/include/lmdb.h") else { return false }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import diskcache"]
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    @Test(.enabled(if: peersInstalled, "needs python3 with diskcache and LMDB's headers (.ci/run installs them)"))
    func verdictNamesEveryPeerAtTheSameProcessCount() throws {
        let r = try Self.run(["bench", "--ops", "2000", "--compare"], path: ProcessInfo.processInfo.environment["PATH"] ?? "")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("p50 µs"), "the Cask table comes first")
        let verdict = try #require(r.out.split(separator: "\n").last.map(String.init))
        let pattern = #"^Cask Cache: [0-9.]+× diskcache, [0-9.]+× LMDB \(WRITEMAP\), [0-9.]+× LMDB in ops/s at 1 process$"#
        #expect(verdict.range(of: pattern, options: .regularExpression) != nil, "\(verdict)")
    }

    /// Without cc, and with a python3 that cannot import diskcache (site-packages off), the Cask
    /// part still prints, exit 0, and each missing piece is named with its install command.
    @Test func missingPeersAreNamedWithHowToInstallThem() throws {
        let s = Scratch()
        let bin = s.path + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        for tool in ["bash", "mktemp", "rm", "cat"] {
            let target = try #require(["/usr/bin/", "/bin/"].map { $0 + tool }.first { FileManager.default.isExecutableFile(atPath: $0) })
            try FileManager.default.createSymbolicLink(atPath: "\(bin)/\(tool)", withDestinationPath: target)
        }
        let python = try #require(Self.python)
        try Data("#!/bin/sh\nexec \(python) -S \"$@\"\n".utf8).write(to: URL(fileURLWithPath: bin + "/python3"))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin + "/python3")

        let r = try Self.run(["bench", "--ops", "2000", "--compare"], path: bin)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("p50 µs"))
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.contains("no peer could run: nothing to compare with"), "\(r.out)")
        #expect(lines.contains("missing: a C compiler (cc), so LMDB cannot run (install: apt-get install gcc)"), "\(r.out)")
        #expect(lines.contains("missing: the Python package diskcache, so diskcache cannot run (install: python3 -m pip install diskcache)"))

        // No python3 at all: said so, with the install commands; the Cask part still there.
        try FileManager.default.removeItem(atPath: bin + "/python3")
        let none = try Self.run(["bench", "--ops", "2000", "--compare"], path: bin)
        #expect(none.status == 0)
        #expect(none.out.contains("p50 µs"))
        #expect(none.out.contains("python3 is not on PATH") && none.out.contains("pip install diskcache"), "\(none.out)")
    }

    @Test(arguments: [["--compare", "--workload", "read-only"], ["--compare", "--threads", "2"], ["--compare", "--json"],
                      ["--peers", "/tmp"]])
    func compareRefusesWorkloadsThePeersDoNotRun(arguments: [String]) throws {
        #expect(try Tool.run(["bench"] + arguments).status == 2, "\(arguments)")
    }
}
