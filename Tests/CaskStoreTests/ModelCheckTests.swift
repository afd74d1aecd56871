import CaskTestSupport
import Foundation
import Testing
@testable import CaskStore

/// Multi-process model check: worker processes run random sets, gets, deletes, increments and
/// add-if-absent (both through `mutate`) and compactions on one directory, logging what each
/// operation did and saw. The parent checks the logs against what a correct store allows.
/// CASK_MODEL_OPS sets the operations per process.
@Suite("Multi-process model check")
struct ModelCheckTests {
    let worker = builtExecutable("cask-test-worker")

    @Test func processesSeeOnlyWrittenValuesAndExactCounters() throws {
        let ops = knob("CASK_MODEL_OPS", default: 400)
        let processes = 3
        let dir = TemporaryDirectory("cask-model")
        var children: [(Process, Pipe)] = []
        for id in 0..<processes {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: worker)
            p.arguments = ["model", dir.path, "p\(id)", String(id * 7919 + 3), String(ops)]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            children.append((p, out))
        }
        var lines: [[String]] = []
        for (p, out) in children {
            let log = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
            let mine = log.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            #expect(mine.count == ops)
            lines += mine
        }
        var written: [String: Set<String>] = [:]          // every value put per key
        var increments: [String: [Int]] = [:]             // old values seen by increments
        var adds: [String: Int] = [:], addDeletes: [String: Int] = [:]
        for l in lines {
            switch l[0] {
            case "set": written[l[1], default: []].insert(l[2])
            case "add" where l[3] == "ok": written[l[1], default: []].insert(l[2]); adds[l[1], default: 0] += 1
            case "inc": increments[l[1], default: []].append(Int(l[2])!)
            case "del" where l[1].hasPrefix("a") && l[2] == "true": addDeletes[l[1], default: 0] += 1
            default: break
            }
        }
        for (k, olds) in increments { written[k, default: []].formUnion(olds.map { String($0 + 1) }) }
        var gets = 0
        for l in lines where l[0] == "get" && l[2] != "-" {
            gets += 1
            #expect(written[l[1]]?.contains(l[2]) == true, "\(l[1]) read as \(l[2]), which nobody wrote")
        }
        let store = try Store(directory: dir.path, options: .testing())
        #expect(try store.checkInvariants() == nil)
        // Increments are atomic across processes: the old values seen are exactly 0..<n, each once.
        for (k, olds) in increments {
            #expect(olds.sorted() == Array(0..<olds.count), "\(k): increments overlapped or were lost")
            #expect(text(try store.get(bytes(k))) == String(olds.count))
        }
        // Add-if-absent succeeds once per absent period: successes = successful deletes (+1 if present now).
        for n in 0..<3 {
            let k = "a\(n)"
            let present = try store.get(bytes(k)) != nil
            #expect(adds[k, default: 0] == addDeletes[k, default: 0] + (present ? 1 : 0), "\(k): \(adds[k, default: 0]) adds, \(addDeletes[k, default: 0]) deletes")
        }
        print("model check: \(processes) processes x \(ops) operations, \(gets) values read checked, \(increments.values.reduce(0) { $0 + $1.count }) increments, \(adds.values.reduce(0, +)) conditional adds")
        #expect(increments.values.reduce(0) { $0 + $1.count } > ops / 2)
    }
}
