import Cask
import Testing
@testable import CaskRemote

/// The RESP2 encoder and decoder, the envelope and the URL parser, without a server.
@Suite("RESP and envelope")
struct RESPTests {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    func decodeAll(_ wire: String) throws -> [RESPValue] {
        var decoder = RESPDecoder()
        decoder.feed(bytes(wire))
        var out: [RESPValue] = []
        while let v = try decoder.next() { out.append(v) }
        #expect(decoder.pendingCount == 0)
        return out
    }

    @Test func encodesCommandsAsArraysOfBulkStrings() {
        let wire = RESPEncoder.encode([[bytes("SET"), bytes("k"), [0, 13, 10, 255]], [bytes("PING")]])
        #expect(wire == bytes("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\n") + [0, 13, 10, 255] + bytes("\r\n*1\r\n$4\r\nPING\r\n"))
        #expect(RESPEncoder.encode([[bytes("GET"), []]]) == bytes("*2\r\n$3\r\nGET\r\n$0\r\n\r\n"))
    }

    @Test func decodesEveryReplyType() throws {
        let replies = try decodeAll("+OK\r\n-ERR wrong type\r\n:-42\r\n$3\r\na\rb\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n"
                                    + "*3\r\n:1\r\n$-1\r\n*1\r\n+x\r\n")
        #expect(replies == [
            .simple("OK"), .error("ERR wrong type"), .integer(-42), .bulk(bytes("a\rb")), .bulk([]), .bulk(nil),
            .array(nil), .array([]), .array([.integer(1), .bulk(nil), .array([.simple("x")])]),
        ])
    }

    @Test func waitsForPartialFramesAtEveryByte() throws {
        let wire = bytes("*2\r\n$5\r\nhello\r\n:7\r\n+PONG\r\n")
        var decoder = RESPDecoder()
        var out: [RESPValue] = []
        for b in wire {
            decoder.feed([b])
            while let v = try decoder.next() { out.append(v) }
        }
        #expect(out == [.array([.bulk(bytes("hello")), .integer(7)]), .simple("PONG")])
        #expect(decoder.pendingCount == 0)
    }

    @Test func rejectsMalformedReplies() {
        for wire in ["?x\r\n", ":12a\r\n", "$3\r\nabcXY", "$-5\r\n", "+OK\rX\n"] {
            var decoder = RESPDecoder()
            decoder.feed(bytes(wire))
            #expect(throws: RESPError.self, "\(wire)") { try decoder.next() }
        }
        var small = RESPDecoder()
        small.maximumLength = 10
        small.feed(bytes("$11\r\n"))
        #expect(throws: RESPError.self) { try small.next() }
    }

    @Test func envelopeKeepsEncodingTagAndExpiry() {
        let values: [StoredValue] = [.bytes([0, 1, 255]), .string("été"), .integer(-7), .double(2.5), .coded(bytes("{\"a\":1}")), .bytes([])]
        for value in values {
            for (expire, tag) in [(nil, nil), (1_700_000_000.25, "reports"), (nil, ""), (12.0, nil)] as [(Double?, String?)] {
                let envelope = SharedEnvelope(value: value, expireTime: expire, tag: tag)
                #expect(SharedEnvelope(decoding: envelope.encoded()) == envelope)
            }
        }
        #expect(SharedEnvelope(decoding: bytes("plain value")) == nil)
        var newer = SharedEnvelope(value: .bytes([1]), expireTime: nil, tag: nil).encoded()
        newer[3] = 2
        #expect(SharedEnvelope(decoding: newer) == nil)
        let truncated = SharedEnvelope(value: .integer(1), expireTime: 5, tag: "t").encoded().dropLast()
        #expect(SharedEnvelope(decoding: Array(truncated)) == nil)
    }

    @Test func parsesRedisURLs() throws {
        let plain = try RedisConfiguration(url: "redis://cache.internal")
        #expect(plain.host == "cache.internal" && plain.port == 6379 && plain.password == nil && plain.user == nil)
        let full = try RedisConfiguration(url: "redis://app:p%40ss:w@10.0.0.5:6380/2")
        #expect(full.host == "10.0.0.5" && full.port == 6380 && full.user == "app" && full.password == "p@ss:w" && full.database == 2)
        let passwordOnly = try RedisConfiguration(url: "redis://:secret@[::1]:7000")
        #expect(passwordOnly.host == "::1" && passwordOnly.port == 7000 && passwordOnly.user == nil && passwordOnly.password == "secret")
        for bad in ["http://x", "redis://", "redis://h:0", "redis://h:port", "redis://h/x"] {
            #expect(throws: RedisError.self, "\(bad)") { try RedisConfiguration(url: bad) }
        }
    }
}
