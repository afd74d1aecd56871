import CaskStore

/// Who waits for whom among the memoized computations of this process, so that a wait that would
/// close a circle is refused instead of started.
///
/// ``MemoCallChain`` refuses a call that the same task is already computing. A circle can also
/// pass through several tasks: a function whose calls form a cycle (x calls y, y calls x), entered
/// at x and at y at once, leaves each task leading one flight and waiting for the other's. Here
/// every flight records the chain link of the computation leading it, and every waiting
/// computation the flight it waits for; a computation is blocked while it, or a computation nested
/// in it, waits. Before waiting for flight k, the waiter follows k's leader, the flights its
/// computation (and those nested in it) wait for, their leaders, and so on: reaching the waiter or
/// a computation it is nested in means the wait would never end, and the call throws
/// `invalid-argument`. The check and the registration are one step under one lock, so of two
/// waits that close a circle the second sees the first.
enum MemoWaits {
    struct State {
        /// Flight key → the link of the computation leading it.
        var leaders: [FlightKey: MemoCallChain] = [:]
        /// Waiting computation → it and the flights it waits for (several: its child tasks).
        var waits: [ObjectIdentifier: (computation: MemoCallChain, keys: [[UInt8]])] = [:]

        /// True if the computation of flight `key` waits, directly or through others, for
        /// `waiter` or a computation `waiter` is nested in.
        func reaches(from key: [UInt8], to waiter: MemoCallChain) -> Bool {
            var blocked: Set<ObjectIdentifier> = []
            var link: MemoCallChain? = waiter
            while let l = link { blocked.insert(ObjectIdentifier(l)); link = l.parent }
            var frontier = [key]
            var seen: Set<[UInt8]> = []
            while let k = frontier.popLast() {
                guard seen.insert(k).inserted, let leader = leaders[FlightKey(k)] else { continue }
                if blocked.contains(ObjectIdentifier(leader)) { return true }
                for (_, w) in waits where w.computation.isNested(in: leader) { frontier += w.keys }
            }
            return false
        }
    }

    static let state = Locked(State())

    /// Runs the leader's computation of the flight of `link`.
    static func leading<R>(_ link: MemoCallChain, _ body: () throws -> R) rethrows -> R {
        let key = FlightKey(link.key)
        state.withLock { $0.leaders[key] = link }
        defer { state.withLock { if $0.leaders[key] === link { $0.leaders[key] = nil } } }
        return try body()
    }

    static func leading<R>(_ link: MemoCallChain, _ body: () async throws -> R) async rethrows -> R {
        let key = FlightKey(link.key)
        state.withLock { $0.leaders[key] = link }
        defer { state.withLock { if $0.leaders[key] === link { $0.leaders[key] = nil } } }
        return try await body()
    }

    /// Waits (`body`) for flight `key` on behalf of `running`, the computation the caller is in
    /// (nil at top level: nothing can wait for the caller then).
    /// - Throws: `invalid-argument` if the wait would close a circle.
    static func waiting<R>(for key: [UInt8], by running: MemoCallChain?, function: String, _ body: () throws -> R) throws -> R {
        guard let running else { return try body() }
        try begin(key, by: running, function: function)
        defer { end(key, by: running) }
        return try body()
    }

    static func waiting<R>(for key: [UInt8], by running: MemoCallChain?, function: String, _ body: () async throws -> R) async throws -> R {
        guard let running else { return try await body() }
        try begin(key, by: running, function: function)
        defer { end(key, by: running) }
        return try await body()
    }

    static func begin(_ key: [UInt8], by running: MemoCallChain, function: String) throws {
        try state.withLock { s in
            if s.reaches(from: key, to: running) {
                throw CaskError(.invalidArgument, "memoized function \(function): calls in several tasks form a circle, each waiting "
                                + "for another's result (\(MemoCallChain.describe(key)))")
            }
            s.waits[ObjectIdentifier(running), default: (running, [])].keys.append(key)
        }
    }

    static func end(_ key: [UInt8], by running: MemoCallChain) {
        state.withLock { s in
            let id = ObjectIdentifier(running)
            guard var entry = s.waits[id], let i = entry.keys.firstIndex(of: key) else { return }
            entry.keys.remove(at: i)
            s.waits[id] = entry.keys.isEmpty ? nil : entry
        }
    }
}

extension MemoCallChain {
    /// True if this computation is `ancestor` or runs inside it.
    func isNested(in ancestor: MemoCallChain) -> Bool {
        var link: MemoCallChain? = self
        while let l = link {
            if l === ancestor { return true }
            link = l.parent
        }
        return false
    }

    /// The call key inside a flight key, as text.
    static func describe(_ flightKey: [UInt8]) -> String {
        "key " + String(decoding: flightKey.drop { $0 != 0 }.dropFirst(), as: UTF8.self)
    }
}
