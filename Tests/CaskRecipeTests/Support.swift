import CaskTestSupport
import Foundation
import Synchronization
import CaskStore
@testable import Cask

/// Counts how many times a memoized body really ran.
final class Counter: Sendable {
    private let n = Locked(0)
    @discardableResult func bump() -> Int { n.withLock { $0 += 1; return $0 } }
    var value: Int { n.withLock { $0 } }
}


/// A running child process of the recipe worker, with its stdout.
struct Child {
    let process: Process
    let out: Pipe

    static func spawn(_ args: [String]) throws -> Child {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: builtExecutable("cask-recipe-worker"))
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        return Child(process: p, out: out)
    }

    /// Waits for the child; returns its exit status and stdout lines.
    func finish() -> (Int32, [String]) {
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text.split(separator: "\n").map(String.init))
    }
}

struct Report: Codable, Equatable, Sendable {
    var id: Int
    var title: String
}
