#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Synchronization
import CaskStore

/// A progress line on stderr for long benchmark phases: shown only when stderr is a terminal and
/// only once the phase has run for a second; erased when the phase finishes. Workloads call
/// `advance(by:)` every few thousand operations (one relaxed atomic add).
public final class ProgressMeter: @unchecked Sendable {
    // @unchecked: `timer` is set in init and only cancelled after (DispatchSource is internally
    // synchronized); the drawing state is behind a mutex.
    public let label: String
    /// Units of work in the phase; 0 when unknown (only the elapsed time is shown).
    public let total: Int
    private let done = Atomic<Int>(0)
    private let started = monotonicNow()
    private let timer: (any DispatchSourceTimer)?
    /// Whether a line is on the screen, or nil once finished.
    private let shown = Locked<Bool?>(false)

    /// - Parameters:
    ///   - enabled: Draw at all; by default, when stderr is a terminal.
    public init(label: String, total: Int, enabled: Bool = isatty(STDERR_FILENO) != 0) {
        self.label = label
        self.total = total
        guard enabled else {
            timer = nil
            return
        }
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue.global(qos: .utility))
        self.timer = timer
        timer.schedule(deadline: .now() + .milliseconds(250), repeating: .milliseconds(250))
        timer.setEventHandler { [weak self] in self?.redraw() }
        timer.resume()
    }

    deinit { finish() }

    @inline(__always) public func advance(by n: Int) { done.add(n, ordering: .relaxed) }

    public var completed: Int { done.load(ordering: .relaxed) }

    /// The progress text: `label 123456/1000000 (12%) 1.4 s`.
    public func status(elapsedSeconds: Double) -> String {
        let n = completed
        let counts = total > 0 ? " \(n)/\(total) (\(min(100, n * 100 / total))%)" : ""
        return "\(label)\(counts) \(fixed(elapsedSeconds, digits: 1)) s"
    }

    private func redraw() {
        shown.withLock { shown in
            guard shown != nil else { return }
            let elapsed = Double(monotonicNow() - started) / 1e9
            guard elapsed >= 1 else { return }
            writeToStderr("\r" + status(elapsedSeconds: elapsed) + "\u{1B}[K")
            shown = true
        }
    }

    /// Stops drawing and erases the line if one was drawn. Idempotent.
    public func finish() {
        shown.withLock { shown in
            guard let wasShown = shown else { return }
            timer?.cancel()
            if wasShown { writeToStderr("\r\u{1B}[K") }
            shown = nil
        }
    }
}

private func writeToStderr(_ s: String) {
    var bytes = Array(s.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
        if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
        offset += n
    }
}
