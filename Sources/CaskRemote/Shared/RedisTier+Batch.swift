/// Batches: many keys in one round trip (on a standalone server, one pipeline; in a cluster, one
/// pipeline per node, see ``RedisClusterClient/pipelines(_:)``).
extension RedisTier {
    /// `GET`+`PTTL` of every key, pipelined.
    public func read(many keys: [[UInt8]]) throws -> [SharedRecord?] {
        let full = keys.map { prefix + $0 }
        switch connection {
        case .standalone(let client):
            let replies = try client.pipeline(full.flatMap(Self.readCommands))
            return try full.indices.map { try Self.record(replies[2 * $0], replies[2 * $0 + 1]) }
        case .cluster(let client):
            let results = client.pipelines(full.map { (RedisSlot.of($0), Self.readCommands($0)) })
            return try results.map { result in
                let replies = try result.get()
                return try Self.record(replies[0], replies[1])
            }
        }
    }

    /// Every entry's `SET` (and tag script), pipelined.
    public func write(many entries: [SharedWrite]) throws {
        var groups: [(slot: Int, commands: [[[UInt8]]])] = []
        for e in entries {
            let k = prefix + e.key
            groups.append((RedisSlot.of(k), [RedisClient.setCommand(k, e.bytes, expireMillis: e.expireMillis)]))
            if let tag = e.tag {
                let (s, add) = tagCommand(k, tag: tag, expireMillis: e.expireMillis)
                groups.append((RedisSlot.of(s), [add]))
            }
        }
        let replies: [RESPValue]
        switch connection {
        case .standalone(let client): replies = try client.pipeline(groups.flatMap(\.commands))
        case .cluster(let client): replies = try client.pipelines(groups).flatMap { try $0.get() }
        }
        for reply in replies { if case .error(let message) = reply { throw RedisError.server(message) } }
    }
}
