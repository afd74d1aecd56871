#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCaskSupport
import CaskStore
import Dispatch

/// One open descriptor of a lock file under `<cache>/locks/`, locked with `flock`.
///
/// `flock` locks belong to the open file description: every acquisition opens the file anew, so
/// two threads of one process exclude each other exactly as two processes do, and a process that
/// dies releases its locks with its descriptors. Opened `O_CLOEXEC`, so a child started while a lock
/// is held does not inherit it, and `O_NOFOLLOW`: a symbolic link in `locks/` is an error.
final class LockFileHandle: Sendable {
    let fd: Int32
    let path: String

    init(path: String) throws {
        var fd: Int32
        repeat { fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw CaskError(.io, "cannot open lock file", path: path, errno: errno) }
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// Takes the lock if nobody holds it. Returns false if it is held elsewhere.
    ///
    /// A wait of this process that gave up (timeout, cancellation) stays queued in the kernel and,
    /// when the lock is released, takes it for a moment only to hand it back. A refusal is
    /// therefore checked against this process's late waits (``LateWaits/mayHold(_:since:)``): if
    /// one of them may be the holder, the lock is tried again once it has handed it back; only a
    /// refusal no late wait can explain is an answer. The wait for a late holder is bounded (its
    /// thread must merely be scheduled): 30 s where the kernel says which descriptor holds the lock,
    /// 5 s where it does not.
    func tryLock() throws -> Bool {
        let start = monotonicSeconds()
        while true {
            let handedBack = LateWaits.handedBack(path)
            if cask_flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
            if errno == EINTR { continue }
            guard errno == EWOULDBLOCK else { throw CaskError(.io, "cannot lock", path: path, errno: errno) }
            let bound: Double
            switch LateWaits.mayHold(path, since: handedBack) {
            case .no: return false
            case .yes: bound = 30
            case .unknown: bound = 5
            }
            guard monotonicSeconds() - start < bound else { return false }
            usleep(1000)
        }
    }

    /// Whether this descriptor holds its `flock` lock, as the kernel reports it in
    /// `/proc/self/fdinfo/<fd>` (a `lock:` line lists a lock of this open file description);
    /// nil where that cannot be read.
    func holdsLockPerKernel() -> Bool? {
        #if os(Linux)
        var fd: Int32
        repeat { fd = open("/proc/self/fdinfo/\(self.fd)", O_RDONLY | O_CLOEXEC) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var text: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while text.count < 1 << 16 {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { return nil }
            if n == 0 { break }
            text.append(contentsOf: buffer[..<n])
        }
        let marker = Array("\nlock:".utf8)
        guard text.count >= marker.count else { return false }
        for i in 0...(text.count - marker.count) where text[i] == marker[0] {
            if Array(text[i..<(i + marker.count)]) == marker { return true }
        }
        return false
        #else
        return nil
        #endif
    }

    /// Waits (blocking the thread) until the lock is free, then takes it.
    func lock() throws {
        while cask_flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw CaskError(.io, "cannot lock", path: path, errno: errno) }
        }
    }

    /// Waits without blocking a task thread: a helper thread waits in a blocking `flock`, so this
    /// waiter is queued by the kernel with every other blocking waiter (a polling waiter would lose
    /// to them under contention). Gives up after `timeout` with `.timedOut`, or on cancellation
    /// with `CancellationError`; a lock that arrives after that is released at once.
    func lockAsync(timeout: Duration? = nil) async throws {
        if try tryLock() { return }
        let wait = LockWait(file: self)
        let timer = timeout.map { t in
            Task { [wait] in
                try? await Task.sleep(for: t)
                wait.giveUp(CaskError(.timedOut, "lock not acquired within \(t)", path: path))
            }
        }
        defer { timer?.cancel() }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in wait.start(c) }
        } onCancel: {
            wait.giveUp(CancellationError())
        }
    }

    /// Blocking wait with a timeout, as ``lockAsync(timeout:)``: a helper thread waits in `flock`
    /// while this one waits for it up to `timeout`.
    func lock(timeout: Duration) throws {
        if try tryLock() { return }
        let wait = LockWait(file: self)
        let done = DispatchSemaphore(value: 0)
        let outcome = Locked<Result<Void, any Error>?>(nil)
        wait.start { result in outcome.withLock { $0 = result }; done.signal() }
        let (s, a) = timeout.components
        let micros = max(0, s) * 1_000_000 + max(0, a) / 1_000_000_000_000
        if done.wait(timeout: .now() + .microseconds(Int(min(micros, Int64(Int32.max) * 1_000)))) == .timedOut {
            wait.giveUp(CaskError(.timedOut, "lock not acquired within \(timeout)", path: path))
            done.wait()
        }
        try outcome.withLock { $0 }!.get()
    }

    func unlock() { _ = cask_flock(fd, LOCK_UN) }
}

/// One wait for a lock file in a blocking `flock` on a helper thread (a serial dispatch queue of
/// its own, which runs on the overcommitting pool). The waiter is told once: locked, or the reason
/// it gave up. If the lock arrives after the waiter gave up, the helper releases it at once; the
/// helper keeps the handle (and its descriptor) alive until its `flock` returns.
final class LockWait: Sendable {
    enum Phase { case waiting, done }

    let file: LockFileHandle
    struct State {
        var phase = Phase.waiting
        var notify: (@Sendable (Result<Void, any Error>) -> Void)?
        /// Why the waiter gave up, if it did before the wait began.
        var reason: (any Error)?
        /// The helper thread is (or will be) blocked in `flock`.
        var helperWaiting = false
    }

    let state = Locked(State())

    init(file: LockFileHandle) { self.file = file }

    /// The helper's `flock` has returned (the wait may hold the lock until it hands it back).
    var flockReturned: Bool { state.withLock { !$0.helperWaiting } }

    func start(_ continuation: CheckedContinuation<Void, any Error>) {
        start { continuation.resume(with: $0) }
    }

    func start(_ notify: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        let abandoned = state.withLock { s -> (any Error)? in
            if s.phase == .done { return s.reason ?? CancellationError() }
            s.notify = notify
            s.helperWaiting = true
            return nil
        }
        if let abandoned {
            // Gave up before the wait began (cancelled at once): nothing to wait for.
            notify(.failure(abandoned))
            return
        }
        DispatchQueue(label: "cask.lock-wait").async { [self] in
            var result: Result<Void, any Error> = .success(())
            while cask_flock(file.fd, LOCK_EX) != 0 {
                guard errno == EINTR else {
                    result = .failure(CaskError(.io, "cannot lock", path: file.path, errno: errno))
                    break
                }
            }
            let notify = state.withLock { s -> (@Sendable (Result<Void, any Error>) -> Void)? in
                s.helperWaiting = false
                guard s.phase == .waiting else { return nil }
                s.phase = .done
                defer { s.notify = nil }
                return s.notify
            }
            if let notify {
                notify(result)
            } else {
                if case .success = result { file.unlock() }   // arrived late: hand it back
                LateWaits.finish(self)
            }
        }
    }

    /// Stops waiting with `error` unless the lock was already taken (then the waiter has it).
    func giveUp(_ error: any Error) {
        let notify = state.withLock { s -> (@Sendable (Result<Void, any Error>) -> Void)? in
            guard s.phase == .waiting else { return nil }
            s.phase = .done
            s.reason = error
            // The helper stays queued in the kernel until the lock comes, then hands it back.
            if s.helperWaiting { LateWaits.begin(self) }
            defer { s.notify = nil }
            return s.notify
        }
        notify?(.failure(error))
    }
}

/// Waits of this process that gave up but whose helper thread is still queued for the lock (or
/// holds it for the moment before handing it back), per lock file; see `LockFileHandle.tryLock`.
enum LateWaits {
    struct Waits {
        var waits: [LockWait] = []
        /// Late waits that have finished (handed the lock back, or failed) since the process began.
        var handedBack: UInt64 = 0
    }

    static let table = Locked<[String: Waits]>([:])

    static func begin(_ wait: LockWait) {
        table.withLock { $0[wait.file.path, default: Waits()].waits.append(wait) }
    }

    /// Called after the late wait's `flock` returned and, if it got the lock, after it unlocked.
    static func finish(_ wait: LockWait) {
        table.withLock { t in
            t[wait.file.path, default: Waits()].waits.removeAll { $0 === wait }
            t[wait.file.path]!.handedBack &+= 1
        }
    }

    static func handedBack(_ path: String) -> UInt64 { table.withLock { $0[path]?.handedBack ?? 0 } }

    enum Answer { case no, yes, unknown }

    /// Whether a refusal of `path` seen after `handedBack(path)` returned `before` may have been
    /// caused by a late wait of this process. A late wait may hold the lock from the moment the
    /// kernel grants it until it finishes: the kernel's view (its descriptor holds the lock) covers
    /// the grant until the unlock, and the wait's own state (its `flock` returned) covers the
    /// return until it finishes; a wait that finished after `before` is counted too. So `.no`
    /// means the refusal was someone else's lock.
    static func mayHold(_ path: String, since before: UInt64) -> Answer {
        let (waits, finished) = table.withLock { t in (t[path]?.waits ?? [], t[path]?.handedBack ?? 0) }
        if finished != before { return .yes }
        var answer = Answer.no
        for wait in waits {
            // The kernel first, then the wait's state: a lock released between the two reads was
            // released after `flock` returned, which the state then shows.
            switch wait.file.holdsLockPerKernel() {
            case true?: return .yes
            case nil: answer = .unknown
            case false?: break
            }
            if wait.flockReturned { return .yes }
        }
        return answer
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

extension Cache {
    /// The path of the lock file for `name`: `<dir>/locks/<readable part>-<16 hex digits>.lock`,
    /// where the readable part keeps up to 40 of the name's letters, digits, `-` and `_`, and the
    /// digits are the fixed-seed 64-bit hash of the name's UTF-8 (the same in every process).
    func lockFilePath(_ name: [UInt8]) throws -> String {
        let dir = directory + "/locks"
        if mkdir(dir, 0o700) != 0 && errno != EEXIST {
            throw CaskError(.io, "cannot create the lock directory", path: dir, errno: errno)
        }
        let readable = String(decoding: name.prefix(40).map { b -> UInt8 in
            let ok = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F
            return ok ? b : 0x5F
        }, as: UTF8.self)
        let hash = name.withUnsafeBytes { KeyHash.hash($0) }
        let hex = String(hash, radix: 16)
        return dir + "/" + readable + "-" + String(repeating: "0", count: 16 - hex.count) + hex + ".lock"
    }
}
