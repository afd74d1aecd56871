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
    /// when the lock is released, takes it for a moment only to hand it back. While such a wait
    /// exists for this file, a refusal is looked at again for up to 5 seconds (the late wait's
    /// thread must be scheduled to hand the lock back; on a loaded machine, under the thread
    /// sanitizer, one second was once not enough), so the moment it holds the lock is not taken
    /// for a holder.
    func tryLock() throws -> Bool {
        let deadline = monotonicSeconds() + 5
        while true {
            if cask_flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
            if errno == EINTR { continue }
            guard errno == EWOULDBLOCK else { throw CaskError(.io, "cannot lock", path: path, errno: errno) }
            guard LateWaits.pending(path), monotonicSeconds() < deadline else { return false }
            usleep(1000)
        }
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
                LateWaits.finish(file.path)
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
            if s.helperWaiting { LateWaits.begin(file.path) }
            defer { s.notify = nil }
            return s.notify
        }
        notify?(.failure(error))
    }
}

/// Waits of this process that gave up but whose helper thread is still queued for the lock, per
/// lock file (see `LockFileHandle.tryLock`).
enum LateWaits {
    static let counts = Locked<[String: Int]>([:])

    static func begin(_ path: String) { counts.withLock { $0[path, default: 0] += 1 } }

    static func finish(_ path: String) {
        counts.withLock { c in
            if let n = c[path], n > 1 { c[path] = n - 1 } else { c[path] = nil }
        }
    }

    static func pending(_ path: String) -> Bool { counts.withLock { $0[path] != nil } }
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
