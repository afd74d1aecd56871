import Synchronization

/// A blocking client of a Redis Cluster: it keeps the cluster's slot map (from `CLUSTER SLOTS`)
/// and one ``RedisClient`` connection per node, sends each call to the node that serves its
/// key's slot, and follows redirects — `MOVED` (the slot lives elsewhere now: the map is corrected
/// at once and refreshed before the next call) and `ASK` (the key is being migrated: the call is
/// repeated once on the importing node, after `ASKING`). A connection that fails makes the map be
/// refreshed and the call be tried again while its deadline allows. Every call, redirects and
/// refreshes included, is bounded by the configuration's timeout.
public final class RedisClusterClient: Sendable {
    public let configuration: RedisClusterConfiguration
    private let state = Mutex(State())

    private struct State {
        /// The node serving each slot, as last learned; nil where unknown.
        var slots = [RedisNode?](repeating: nil, count: RedisSlot.count)
        var clients: [RedisNode: RedisClient] = [:]
        /// The map is to be read again before the next call.
        var stale = true
        var refreshedAt: ContinuousClock.Instant?
    }

    /// A stale map is read again at most this often (a node that is down would otherwise cost a
    /// refresh on every call).
    static let refreshInterval = Duration.milliseconds(100)

    public init(_ configuration: RedisClusterConfiguration) {
        self.configuration = configuration
    }

    /// Sends `commands` (all on keys of `slot`) in one write to the node serving the slot and
    /// returns their replies in order. If any reply is a redirect, the whole pipeline is sent again
    /// where it points, so the commands must be safe to repeat (reads; writes of a whole value).
    /// - Throws: ``RedisError`` — `.timeout`, `.connection` (the node was unreachable until the
    ///   deadline), `.server` for a redirect loop longer than `maxRedirects`.
    public func pipeline(_ commands: [[[UInt8]]], slot: Int) throws(RedisError) -> [RESPValue] {
        precondition((0..<RedisSlot.count).contains(slot), "slot \(slot) out of range")
        let deadline = ContinuousClock.now + configuration.timeout
        var ask: RedisNode?
        var redirects = 0
        var failures = 0
        while true {
            refreshIfStale(deadline: deadline)
            guard let node = ask ?? state.withLock({ $0.slots[slot] }) ?? configuration.seeds.first else {
                throw .connection("no node of the cluster is known", errno: 0)
            }
            let replies: [RESPValue]
            do {
                let sent = ask == nil ? commands : [[Array("ASKING".utf8)]] + commands
                replies = Array(try client(for: node).pipeline(sent, deadline: deadline).dropFirst(ask == nil ? 0 : 1))
            } catch .connection(let message, let code) {
                // The node is down or gone: learn the map again and retry while time is left.
                state.withLock { $0.stale = true }
                failures += 1
                guard failures < 3, ContinuousClock.now < deadline else { throw .connection(message, errno: code) }
                ask = nil
                continue
            }
            guard let redirect = replies.lazy.compactMap(Redirect.init).first else { return replies }
            redirects += 1
            guard redirects <= configuration.maxRedirects else {
                throw .server("more than \(configuration.maxRedirects) redirects for slot \(slot)")
            }
            switch redirect {
            case .moved(let movedSlot, let target):
                state.withLock { s in
                    s.slots[movedSlot] = target
                    s.stale = true
                }
                ask = nil
            case .ask(_, let target):
                ask = target
            }
        }
    }

    /// Several pipelines, each on keys of one slot, sent as one pipeline per node (the nodes the
    /// map names, asked one after the other). A group whose node failed or whose replies hold a
    /// redirect is sent again on its own through ``pipeline(_:slot:)``, which follows redirects;
    /// a group that still fails has its error as the replies' place (`.failure`).
    public func pipelines(_ groups: [(slot: Int, commands: [[[UInt8]]])]) -> [Result<[RESPValue], RedisError>] {
        var results = [Result<[RESPValue], RedisError>?](repeating: nil, count: groups.count)
        let deadline = ContinuousClock.now + configuration.timeout
        refreshIfStale(deadline: deadline)
        var byNode: [RedisNode: [Int]] = [:]
        var order: [RedisNode] = []
        state.withLock { s in
            for (i, group) in groups.enumerated() {
                guard let node = s.slots[group.slot] else { continue }
                if byNode[node] == nil { order.append(node) }
                byNode[node, default: []].append(i)
            }
        }
        for node in order {
            let members = byNode[node]!
            guard let replies = try? client(for: node).pipeline(members.flatMap { groups[$0].commands }, deadline: deadline) else { continue }
            var at = 0
            for i in members {
                let part = Array(replies[at..<(at + groups[i].commands.count)])
                at += groups[i].commands.count
                if !part.contains(where: { Redirect($0) != nil }) { results[i] = .success(part) }
            }
        }
        var out: [Result<[RESPValue], RedisError>] = []
        for i in groups.indices {
            if let done = results[i] {
                out.append(done)
                continue
            }
            do throws(RedisError) {
                out.append(.success(try pipeline(groups[i].commands, slot: groups[i].slot)))
            } catch {
                out.append(.failure(error))
            }
        }
        return out
    }

    /// ``pipeline(_:slot:)`` for commands on `key`.
    public func pipeline(_ commands: [[[UInt8]]], key: [UInt8]) throws(RedisError) -> [RESPValue] {
        try pipeline(commands, slot: RedisSlot.of(key))
    }

    /// One command on `key`; an error reply throws ``RedisError/server(_:)``.
    public func command(_ arguments: [[UInt8]], key: [UInt8]) throws(RedisError) -> RESPValue {
        let reply = try pipeline([arguments], key: key)[0]
        if case .error(let message) = reply { throw .server(message) }
        return reply
    }

    /// `PING` to the node serving slot 0 (any node answers for the cluster being reachable).
    public func ping() throws(RedisError) {
        guard case .simple("PONG") = try pipeline([[Array("PING".utf8)]], slot: 0)[0] else { throw .protocolError("PING") }
    }

    /// The node serving `slot` in the map as it is now (nil if unknown); for tests and tools.
    public func node(serving slot: Int) -> RedisNode? { state.withLock { $0.slots[slot] } }

    /// Closes every connection (the next calls open new ones) and forgets the slot map.
    public func disconnect() {
        let clients = state.withLock { s in
            defer {
                s.clients = [:]
                s.slots = [RedisNode?](repeating: nil, count: RedisSlot.count)
                s.stale = true
            }
            return Array(s.clients.values)
        }
        for client in clients { client.disconnect() }
    }

    /// The masters of the cluster (the nodes serving slots), after reading the slot map if it is
    /// stale or unknown.
    /// - Throws: ``RedisError/connection(_:errno:)`` if no node is known.
    public func masters() throws(RedisError) -> [RedisNode] {
        refreshIfStale(deadline: ContinuousClock.now + configuration.timeout)
        var seen: [RedisNode] = []
        for node in state.withLock({ $0.slots }).compactMap({ $0 }) where !seen.contains(node) { seen.append(node) }
        guard !seen.isEmpty else { throw .connection("no node of the cluster is known", errno: 0) }
        return seen
    }

    /// The connection to `node` (for commands meant for one node, such as `SCAN`; no redirects
    /// are followed on it).
    public func connection(to node: RedisNode) -> RedisClient { client(for: node) }

    private func client(for node: RedisNode) -> RedisClient {
        state.withLock { s in
            if let existing = s.clients[node] { return existing }
            let made = RedisClient(configuration.connection(to: node))
            s.clients[node] = made
            return made
        }
    }

    // MARK: Slot map

    /// Reads `CLUSTER SLOTS` from the first node that answers (the nodes last seen, then the
    /// seeds) if the map is stale and was not read in the last ``refreshInterval``. Failures leave
    /// the map as it was; the call then finds out for itself.
    private func refreshIfStale(deadline: ContinuousClock.Instant) {
        let now = ContinuousClock.now
        let candidates: [RedisNode]? = state.withLock { s in
            guard s.stale else { return nil }
            if let last = s.refreshedAt, now - last < Self.refreshInterval, s.slots.contains(where: { $0 != nil }) { return nil }
            s.refreshedAt = now
            var seen: [RedisNode] = []
            for node in s.slots.compactMap({ $0 }) + configuration.seeds where !seen.contains(node) { seen.append(node) }
            return seen
        }
        guard let candidates else { return }
        for node in candidates where ContinuousClock.now < deadline {
            guard let reply = try? client(for: node).pipeline([[Array("CLUSTER".utf8), Array("SLOTS".utf8)]], deadline: deadline).first,
                  let map = Self.slotMap(reply, askedNode: node) else { continue }
            state.withLock { s in
                s.slots = map
                s.stale = false
            }
            return
        }
    }

    /// The map a `CLUSTER SLOTS` reply describes: `[[first, last, [host, port, id…], replicas…]…]`,
    /// the first node of each range its master. An empty host means the node that was asked.
    static func slotMap(_ reply: RESPValue, askedNode: RedisNode) -> [RedisNode?]? {
        guard case .array(let ranges?) = reply else { return nil }
        var map = [RedisNode?](repeating: nil, count: RedisSlot.count)
        for range in ranges {
            guard case .array(let fields?) = range, fields.count >= 3,
                  case .integer(let first) = fields[0], case .integer(let last) = fields[1],
                  0 <= first, first <= last, last < RedisSlot.count,
                  case .array(let master?) = fields[2], master.count >= 2,
                  case .bulk(let hostBytes?) = master[0], case .integer(let port) = master[1],
                  (1...65_535).contains(port) else { return nil }
            let host = String(decoding: hostBytes, as: UTF8.self)
            let node = host.isEmpty || host == "?" ? RedisNode(host: askedNode.host, port: Int(port))
                                                   : RedisNode(host: host, port: Int(port))
            for slot in Int(first)...Int(last) { map[slot] = node }
        }
        return map
    }
}

/// A `-MOVED <slot> <host:port>` or `-ASK <slot> <host:port>` reply.
enum Redirect: Equatable {
    case moved(Int, RedisNode)
    case ask(Int, RedisNode)

    init?(_ reply: RESPValue) {
        guard case .error(let message) = reply else { return nil }
        let parts = message.split(separator: " ")
        guard parts.count == 3, let slot = Int(parts[1]), (0..<RedisSlot.count).contains(slot),
              let node = RedisNode(parts[2]) else { return nil }
        switch parts[0] {
        case "MOVED": self = .moved(slot, node)
        case "ASK": self = .ask(slot, node)
        default: return nil
        }
    }
}
