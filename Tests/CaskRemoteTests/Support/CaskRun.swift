import CaskTestSupport
import Foundation
import Testing

/// What a run of the built `cask` tool printed, and its exit status.
struct CaskRun {
    var status: Int32
    var stdout: String
    /// What it said on stderr (for failure messages: a tier's error is a warning there).
    var stderr: String = ""

    /// The stdout as one JSON object.
    func json() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
    }
}

/// Runs the built `cask` with `args` and waits for it; `environment` is added to the test's own.
/// stderr goes to a temporary file (read after the exit, so neither stream can fill up and block
/// the tool while the other is read).
func runCask(_ args: [String], environment: [String: String] = [:]) throws -> CaskRun {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: builtExecutable("cask"))
    p.arguments = args
    if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe()
    p.standardOutput = out
    let scratch = TemporaryDirectory("cask-run")
    let errorPath = scratch.sub("stderr")
    _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
    let errorFile = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
    defer { try? errorFile.close() }
    p.standardError = errorFile
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let said = FileManager.default.contents(atPath: errorPath) ?? Data()
    return CaskRun(status: p.terminationStatus, stdout: String(decoding: data, as: UTF8.self),
                   stderr: String(decoding: said, as: UTF8.self))
}
