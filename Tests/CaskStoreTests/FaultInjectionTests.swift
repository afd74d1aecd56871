import Foundation
import Synchronization
import Testing
@testable import CaskStore

/// Tests that install a process-wide fault injector (`Faults` is global). They run one at a time,
/// and every injector only acts on paths under its own temporary directory, so the other suites,
/// running in parallel, are never affected.
@Suite("Fault injection", .serialized)
struct FaultInjectionTests {}

/// Runs `body` with `injector` installed, removing it afterwards whatever happens.
func withFaults<R>(_ injector: any FaultInjector, _ body: () throws -> R) rethrows -> R {
    Faults.install(injector)
    defer { Faults.install(nil) }
    return try body()
}

/// Makes chosen system calls under one directory fail or write short.
final class ScriptedFaults: FaultInjector {
    struct Rule: Sendable {
        /// The calls the rule applies to.
        var calls: Set<SyscallKind>
        /// Only paths containing this (nil: any path under the directory).
        var pathContains: String?
        /// Matching calls to let through before the first fault.
        var skip = 0
        /// How many faults to inject (then the rule is spent).
        var times = 1
        var fault: InjectedFault
    }

    private let prefix: String
    private let state = Locked<(rules: [Rule], injected: Int, calls: [SyscallKind: Int])>(([], 0, [:]))

    init(root: String) { prefix = root.hasSuffix("/") ? root : root + "/" }

    func add(_ rule: Rule) { state.withLock { $0.rules.append(rule) } }
    func removeAll() { state.withLock { $0.rules = [] } }
    /// Faults injected so far.
    var injected: Int { state.withLock { $0.injected } }
    /// Calls of `kind` seen under the directory so far (faulted or not).
    func calls(_ kind: SyscallKind) -> Int { state.withLock { $0.calls[kind] ?? 0 } }

    func fault(for call: SyscallKind, path: String?, byteCount: Int) -> InjectedFault? {
        guard let path, path.hasPrefix(prefix) else { return nil }
        return state.withLock { s -> InjectedFault? in
            s.calls[call, default: 0] += 1
            for i in s.rules.indices where s.rules[i].times > 0 && s.rules[i].calls.contains(call) {
                if let part = s.rules[i].pathContains, !path.contains(part) { continue }
                if s.rules[i].skip > 0 {
                    s.rules[i].skip -= 1
                    continue
                }
                s.rules[i].times -= 1
                s.injected += 1
                return s.rules[i].fault
            }
            return nil
        }
    }
}

/// Reads an environment knob (a positive integer), or the CI default.
func knob(_ name: String, default value: Int) -> Int {
    ProcessInfo.processInfo.environment[name].flatMap { Int($0) }.map { max(1, $0) } ?? value
}

/// Opens the store in `directory` and checks it holds exactly `model`, allowing the one key of an
/// operation that was in flight to hold either its old or its new state. Returns the keys checked.
@discardableResult
func expectStore(at directory: String, holds model: [String: String], keys: [String],
                 inFlight: (key: String, value: String?)? = nil, options: StoreOptions = .testing(),
                 _ label: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) -> Int {
    do {
        let store = try Store(directory: directory, options: options)
        defer { try? store.close() }
        var checked = 0
        for k in keys {
            let got = text(try store.get(bytes(k)))
            checked += 1
            if got == model[k] { continue }
            if let f = inFlight, f.key == k, got == f.value { continue }
            Issue.record("\(label()): \(k) is \(got ?? "absent"), expected \(model[k] ?? "absent")", sourceLocation: sourceLocation)
        }
        if let problem = try store.checkInvariants() {
            Issue.record("\(label()): \(problem)", sourceLocation: sourceLocation)
        }
        return checked
    } catch {
        Issue.record("\(label()): cannot open: \(error)", sourceLocation: sourceLocation)
        return 0
    }
}
