import CaskTestSupport
import Foundation
import Testing
@testable import CaskStore

/// A clear that fails (or dies) at each of its mutating system calls while a second handle on the
/// same directory keeps writing: every write that second handle saw succeed is there after
/// reopening, and the clear either did not happen or is completed.
extension FaultInjectionTests {
    static let clearSeeds = (0..<12).map { ("old-\($0)", "before-\($0)") }

    /// One run: `clearer` clears with the k-th mutating call failing (EIO); `writer`, another
    /// handle, then writes. With `clearerDies`, the clearer is abandoned at once (as if killed right
    /// after the failed step); otherwise it writes too. Returns whether a fault was injected.
    static func runFailedClear(step k: Int, clearerDies: Bool) throws -> Bool {
        let dir = TemporaryDirectory("cask-clear-fault")
        let faults = ScriptedFaults(root: dir.path)
        let label = "EIO at mutating call \(k) of clear, clearer \(clearerDies ? "dies" : "lives")"
        var acknowledged: [String: String] = [:]
        var injected = 0
        var clearThrew = false
        try withFaults(faults) {
            let options = StoreOptions.testing(shards: 1)
            let clearer = try Store(directory: dir.path, options: options)
            let writer = try Store(directory: dir.path, options: options)
            for (key, value) in clearSeeds { try clearer.put(bytes(key), bytes(value)) }
            #expect(text(try writer.get(bytes("old-0"))) == "before-0")
            faults.add(.init(calls: [.open, .pwrite, .fsync, .ftruncate, .rename, .unlink], skip: k - 1, fault: .fail(EIO)))
            do {
                try clearer.clear()
            } catch let error as CaskError {
                clearThrew = true
                #expect(error.code == .io && error.errno == EIO, "\(label): \(error)")
            }
            injected = faults.injected
            faults.removeAll()
            if clearerDies { try clearer.close() }
            for i in 0..<10 {
                let (key, value) = ("new-\(i)", "after-\(i)")
                try writer.put(bytes(key), bytes(value))
                acknowledged[key] = value
                if !clearerDies && i == 4 {
                    try clearer.put(bytes("own"), bytes("write"))
                    acknowledged["own"] = "write"
                }
            }
            for (k, v) in acknowledged where text(try writer.get(bytes(k))) != v {
                Issue.record("\(label): \(k) not readable through the writer")
            }
            if !clearerDies {
                for (k, v) in acknowledged where text(try clearer.get(bytes(k))) != v {
                    Issue.record("\(label): \(k) not readable through the clearer")
                }
                try clearer.close()
            }
            try writer.close()
        }
        guard injected > 0 else { return false }
        let reopened = try Store(directory: dir.path, options: .testing(shards: 1))
        defer { try? reopened.close() }
        for (k, v) in acknowledged {
            let got = text(try reopened.get(bytes(k)))
            if got != v { Issue.record("\(label): acknowledged \(k) is \(got ?? "absent") after reopening") }
        }
        // The clear happened completely or not at all.
        let survivors = try clearSeeds.filter { text(try reopened.get(bytes($0.0))) == $0.1 }.count
        #expect(survivors == 0 || survivors == clearSeeds.count, "\(label): \(survivors) of \(clearSeeds.count) old keys left")
        if !clearThrew { #expect(survivors == 0, "\(label): clear returned but old keys remain") }
        #expect(try reopened.checkInvariants() == nil, "\(label)")
        return true
    }

    @Test func failedClearLosesNoAcknowledgedWrite() throws {
        var steps = 0
        for k in 1...40 {
            guard try Self.runFailedClear(step: k, clearerDies: false) else { break }
            _ = try Self.runFailedClear(step: k, clearerDies: true)
            steps = k
        }
        print("failed clear: faulted each of \(steps) mutating calls, clearer surviving and dying")
        #expect(steps >= 6 && steps < 40)
    }
}
