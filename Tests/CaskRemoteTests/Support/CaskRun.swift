import CaskTestSupport
import Foundation
import Testing

/// What a run of the built `cask` tool printed on stdout, and its exit status.
struct CaskRun {
    var status: Int32
    var stdout: String

    /// The stdout as one JSON object.
    func json() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
    }
}

/// Runs the built `cask` with `args` (stderr discarded) and waits for it; `environment` is added
/// to the test's own.
func runCask(_ args: [String], environment: [String: String] = [:]) throws -> CaskRun {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: builtExecutable("cask"))
    p.arguments = args
    if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return CaskRun(status: p.terminationStatus, stdout: String(decoding: data, as: UTF8.self))
}
