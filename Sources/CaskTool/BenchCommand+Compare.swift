import ArgumentParser
import CaskBench
import Foundation

/// `cask bench --compare`: the peers of `Benchmarks/compare` (LMDB from C, diskcache) on the same
/// workload in the same run, through the repository's own scripts: `Benchmarks/peers/run` runs
/// them, `Benchmarks/compare_report.py verdict` reads every output and prints the one-line verdict.
extension BenchCommand {
    /// `Benchmarks/peers` of the source tree this binary was built from.
    static var builtInPeers: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Benchmarks/peers").path
    }

    func validateCompare() throws {
        guard compare else {
            if peers != nil { throw ValidationError("--peers goes with --compare") }
            return
        }
        guard workload == .core, threads == 1, sync == .never, policy == "all", workerIndex == nil else {
            throw ValidationError("--compare runs the peers' workload: core, one thread per process, --sync never, no --policy")
        }
        guard !json else { throw ValidationError("--compare prints a table and a verdict line, not JSON") }
    }

    /// Runs the peers on the workload `report` measured and returns the lines to print: the
    /// verdict, or why a peer (or all of them) could not run and how to install what is missing.
    /// Throws only when a peer that could run failed.
    func comparePeers(with report: BenchReport) throws -> [String] {
        let directory = peers ?? Self.builtInPeers
        let runScript = directory + "/run"
        let reportScript = directory + "/../compare_report.py"
        guard FileManager.default.isExecutableFile(atPath: runScript), FileManager.default.fileExists(atPath: reportScript) else {
            return ["not compared: the peer programs are not in \(directory) (they come with Cask's source "
                    + "repository: pass --peers REPOSITORY/Benchmarks/peers)"]
        }
        guard let python = executableOnPath("python3") else {
            return ["not compared: python3 is not on PATH, and both the comparison and diskcache need it "
                    + "(install: apt-get install python3 python3-pip, then python3 -m pip install diskcache)"]
        }
        let work = FileManager.default.temporaryDirectory.path + "/cask-compare-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: work) }
        let stem = api == .store ? "cask-store" : "cask-cache"
        try Data((report.text + "\n").utf8).write(to: URL(fileURLWithPath: "\(work)/\(stem)-\(procs).txt"))

        let meter = ProgressMeter(label: "peers (LMDB, diskcache)", total: 0)
        var arguments = [runScript, "--procs", String(procs), "--ops", String(operationsPerWorker), "--out", work]
        if let range { arguments += ["--range", String(range)] }
        let peerRun = try runTool(arguments, in: work, name: "peers")
        meter.finish()
        var lines = peerRun.stderr.split(separator: "\n").filter { $0.hasPrefix("missing: ") }.map(String.init)
        guard peerRun.status == 0 || peerRun.status == 3 else {
            throw ToolFailure(message: "the peers failed: \(peerRun.stderr.trimmingCharacters(in: .whitespacesAndNewlines))",
                              code: ExitCode.failure)
        }
        let verdict = try runTool([python, reportScript, "verdict", work, String(procs), stem], in: work, name: "verdict")
        guard verdict.status == 0 else {
            throw ToolFailure(message: "could not read the peers' results: \(verdict.stderr)", code: ExitCode.failure)
        }
        let line = verdict.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        lines.insert(line.isEmpty ? "no peer could run: nothing to compare with" : line, at: 0)
        return lines
    }

    /// Runs `arguments[0]` with its output and errors in files of `work` (no pipe to fill up).
    private func runTool(_ arguments: [String], in work: String, name: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let outPath = "\(work)/.\(name).out", errPath = "\(work)/.\(name).err"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: arguments[0])
        p.arguments = Array(arguments.dropFirst())
        p.standardOutput = FileHandle(forWritingAtPath: outPath)
        p.standardError = FileHandle(forWritingAtPath: errPath)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return (p.terminationStatus, out, err)
    }
}

/// The first executable file called `name` in the directories of PATH.
func executableOnPath(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    for directory in path.split(separator: ":") where !directory.isEmpty {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}
