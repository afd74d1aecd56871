import CaskTestSupport
import Foundation
import Synchronization
import Testing
@testable import CaskRemote

/// The RESP client against a real `redis-server` the test starts on loopback.
@Suite("Redis client", .enabled(if: RedisServer.isAvailable), .serialized)
struct RedisClientTests {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func commandsAndPipelining() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = RedisClient(server.configuration)
        try client.ping()
        try client.set(bytes("k"), [0, 13, 10, 255], expireMillis: 60_000)
        #expect(try client.get(bytes("k")) == [0, 13, 10, 255])
        #expect(try client.get(bytes("absent")) == nil)
        #expect(try client.expire(bytes("k"), millis: 30_000))
        #expect(try client.expire(bytes("absent"), millis: 30_000) == false)
        guard case .integer(let ttl) = try client.command([bytes("PTTL"), bytes("k")]) else {
            Issue.record("PTTL is not an integer")
            return
        }
        #expect(ttl > 0 && ttl <= 30_000)

        // Several commands in one write; an error reply in the middle leaves the rest in order.
        let replies = try client.pipeline([
            [bytes("SET"), bytes("a"), bytes("1")], [bytes("INCR"), bytes("a")], [bytes("LPUSH"), bytes("a"), bytes("x")],
            [bytes("GET"), bytes("a")], [bytes("DEL"), bytes("a"), bytes("k"), bytes("absent")], [bytes("PING")],
        ])
        #expect(replies.count == 6)
        #expect(replies[0] == .simple("OK") && replies[1] == .integer(2) && replies[3] == .bulk(bytes("2")))
        #expect(replies[4] == .integer(2) && replies[5] == .simple("PONG"))
        guard case .error(let message) = replies[2] else {
            Issue.record("LPUSH on a string should be refused, got \(replies[2])")
            return
        }
        #expect(message.hasPrefix("WRONGTYPE"))
        #expect { try client.command([bytes("NOSUCHCOMMAND")]) } throws: { error in
            guard case RedisError.server(let message) = error else { return false }
            return message.hasPrefix("ERR")
        }
        #expect(try client.get(bytes("a")) == nil)
    }

    @Test func reconnectsOnTheNextCallAfterAFailure() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = RedisClient(server.configuration)
        try client.set(bytes("k"), bytes("v"))
        // The server drops every client: the next call fails, the one after connects again.
        _ = try RedisClient(server.configuration).command([bytes("CLIENT"), bytes("KILL"), bytes("TYPE"), bytes("normal")])
        var recovered = false
        for _ in 0..<2 where !recovered {
            recovered = (try? client.get(bytes("k"))) == bytes("v")
        }
        #expect(recovered)
    }

    @Test func authenticatesWithPasswordOrACLUser() throws {
        let server = try RedisServer(password: "s3cret")
        defer { server.stop() }
        var anonymous = server.configuration
        anonymous.password = nil
        #expect { try RedisClient(anonymous).get(bytes("k")) } throws: { error in
            guard case RedisError.server(let message) = error else { return false }
            return message.hasPrefix("NOAUTH")
        }
        var wrong = server.configuration
        wrong.password = "nope"
        #expect { try RedisClient(wrong).ping() } throws: { error in
            guard case RedisError.server(let message) = error else { return false }
            return message.hasPrefix("WRONGPASS") || message.hasPrefix("ERR")
        }
        let admin = RedisClient(server.configuration)
        try admin.set(bytes("k"), bytes("v"))
        _ = try admin.command([bytes("ACL"), bytes("SETUSER"), bytes("reader"), bytes("on"), bytes(">pw"),
                               bytes("~*"), bytes("+@all")])
        let user = RedisClient(try RedisConfiguration(url: "redis://reader:pw@127.0.0.1:\(server.port)"))
        #expect(try user.get(bytes("k")) == bytes("v"))
        guard case .bulk(let name) = try user.command([bytes("ACL"), bytes("WHOAMI")]) else {
            Issue.record("ACL WHOAMI is not a bulk string")
            return
        }
        #expect(name == bytes("reader"))
    }

    @Test func aServerThatNeverAnswersCostsOneTimeout() throws {
        // A listening socket nobody accepts from: connecting works (the kernel's backlog), replies never come.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 8) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        try #require(bound)
        let client = RedisClient(RedisConfiguration(port: Int(UInt16(bigEndian: addr.sin_port)), timeout: .milliseconds(50)))
        let started = ContinuousClock.now
        #expect(throws: RedisError.timeout) { try client.ping() }
        // Bounded by the timeout (with room for a loaded machine), not held until the peer gives up.
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    /// A server that stops answering holds no call past its timeout, even while the connection is
    /// held by a call with a longer deadline (a cluster call spends one deadline across nodes): the
    /// wait for the connection counts against each call's own deadline.
    @Test func callsQueuedBehindAHungServerEndWithinTheirTimeout() throws {
        let server = try RedisServer()
        defer { server.stop() }
        var configuration = server.configuration
        configuration.timeout = .milliseconds(100)
        let client = RedisClient(configuration)
        guard case .bulk(let info?) = try client.command([bytes("INFO"), bytes("server")]),
              let line = String(decoding: info, as: UTF8.self).split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("process_id:") }),
              let pid = Int32(line.dropFirst("process_id:".count)) else {
            Issue.record("no process_id in INFO server")
            return
        }
        kill(pid, SIGSTOP)
        defer { kill(pid, SIGCONT) }
        let holder = Thread { _ = try? client.pipeline([[Array("GET".utf8), Array("held".utf8)]], deadline: .now + .seconds(3)) }
        holder.start()
        Thread.sleep(forTimeInterval: 0.05)
        let longest = Mutex(Duration.zero)
        let outcomes = Mutex([RedisError?]())
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let started = ContinuousClock.now
            var failure: RedisError?
            do throws(RedisError) { _ = try client.get(bytes("k\(i)")) } catch { failure = error }
            let took = ContinuousClock.now - started
            longest.withLock { $0 = max($0, took) }
            outcomes.withLock { $0.append(failure) }
        }
        #expect(outcomes.withLock { $0 }.allSatisfy { $0 == .timeout })
        // Waiting for the holder's turn to end took about 3 s; now each call ends at its own 100 ms.
        let worst = longest.withLock { $0 }
        #expect(worst < .milliseconds(1500), "the slowest call took \(worst)")
        kill(pid, SIGCONT)
        while holder.isExecuting { Thread.sleep(forTimeInterval: 0.01) }
        try client.ping()
    }
}
