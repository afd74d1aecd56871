import Cask
import CaskTestSupport
import Foundation
import Testing
@testable import CaskRemote

/// `rediss://` against a `redis-server` with TLS on loopback, its certificates made for the test
/// by `openssl` (a CA, a server certificate for 127.0.0.1, one for another name).
@Suite("Redis over TLS", .enabled(if: RedisServer.isAvailable && onPath("openssl")), .serialized)
struct RedisTLSTests {
    /// A test CA and two server certificates it signed.
    final class Certificates: @unchecked Sendable {
        // @unchecked: immutable after init.
        let dir = TemporaryDirectory("cask-redis-tls")
        var ca: String { dir.sub("ca.pem") }

        init() throws {
            try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir.sub("ca.key"), "-out", ca,
                         "-days", "2", "-subj", "/CN=cask-test-ca"])
            try issue("right", altName: "IP:127.0.0.1")
            try issue("wrong", altName: "DNS:elsewhere.example")
        }

        func issue(_ name: String, altName: String) throws {
            try Data("subjectAltName=\(altName)\n".utf8).write(to: URL(fileURLWithPath: dir.sub("\(name).ext")))
            try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", dir.sub("\(name).key"), "-out", dir.sub("\(name).csr"),
                         "-subj", "/CN=\(name)"])
            try openssl(["x509", "-req", "-in", dir.sub("\(name).csr"), "-CA", ca, "-CAkey", dir.sub("ca.key"), "-CAcreateserial",
                         "-out", dir.sub("\(name).pem"), "-days", "2", "-extfile", dir.sub("\(name).ext")])
        }

        func openssl(_ arguments: [String]) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["openssl"] + arguments
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw POSIXError(.EPROTO) }
        }
    }

    /// `redis-server` answering only TLS, with the certificate `name`.
    final class TLSServer: @unchecked Sendable {
        // @unchecked: immutable after init.
        let port: Int
        let process: ServerProcess
        let dir = TemporaryDirectory("cask-redis-tls-server")

        init(_ certificates: Certificates, name: String) throws {
            port = try freePorts(1)[0]
            process = try ServerProcess(["python3", ServerProcess.serversDirectory + "/guard.py", "\(getpid())", dir.sub("redis.log"), "--",
                                         "redis-server", "--port", "0", "--tls-port", "\(port)", "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no", "--dir", dir.path,
                                         "--tls-cert-file", certificates.dir.sub("\(name).pem"),
                                         "--tls-key-file", certificates.dir.sub("\(name).key"),
                                         "--tls-ca-cert-file", certificates.ca, "--tls-auth-clients", "no"])
            // Ready when the port takes connections (a plain TCP connect, no handshake).
            let deadline = Date().addingTimeInterval(10)
            while (try? RedisSocket(host: "127.0.0.1", port: port, deadline: .now + .milliseconds(200))) == nil {
                guard Date() < deadline, process.process.isRunning else {
                    process.stop()
                    throw POSIXError(.ETIMEDOUT)
                }
                usleep(20_000)
            }
        }

        func stop() { process.stop() }

        func url(ca: String?) -> String {
            "rediss://127.0.0.1:\(port)" + (ca.map { "?ca=" + $0.replacingOccurrences(of: "%", with: "%25") } ?? "")
        }
    }

    @Test func commandsGoOverTLSToAServerTheCATrusts() throws {
        let certificates = try Certificates()
        let server = try TLSServer(certificates, name: "right")
        defer { server.stop() }
        var configuration = try RedisConfiguration(url: server.url(ca: certificates.ca))
        #expect(configuration.tls == RedisTLS(caCertificatePath: certificates.ca))
        configuration.timeout = .seconds(2)
        configuration.connectTimeout = .seconds(2)
        let client = RedisClient(configuration)
        try client.ping()
        let big = [UInt8]((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try client.set(bytes("big"), big)
        #expect(try client.get(bytes("big")) == big)
        let replies = try client.pipeline([[bytes("SET"), bytes("a"), bytes("1")], [bytes("INCR"), bytes("a")], [bytes("GET"), bytes("a")]])
        #expect(replies == [.simple("OK"), .integer(2), .bulk(bytes("2"))])

        // A shared tier over it.
        let tier = try RedisTier(url: server.url(ca: certificates.ca), timeout: .seconds(2))
        let (a, b) = (TemporaryDirectory("cask-tls-a"), TemporaryDirectory("cask-tls-b"))
        let sa = SharedCache(cache: try Cache(directory: a.path), tier: tier)
        let sb = SharedCache(cache: try Cache(directory: b.path), tier: tier)
        try sa.set("report", [1, 2, 3], tag: "t")
        #expect(try sb.get("report", as: [Int].self) == [1, 2, 3])
        #expect(sb.statistics.errors == 0)
        try sa.cache.close()
        try sb.cache.close()
    }

    /// An untrusted certificate, a certificate for another name, or a plain client on the TLS
    /// port: the call fails within its timeout, nothing hangs.
    @Test func untrustedOrMisnamedServersAreRefused() throws {
        let certificates = try Certificates()
        let right = try TLSServer(certificates, name: "right"), wrong = try TLSServer(certificates, name: "wrong")
        defer {
            right.stop()
            wrong.stop()
        }
        for url in [right.url(ca: nil), wrong.url(ca: certificates.ca)] {
            var configuration = try RedisConfiguration(url: url)
            configuration.timeout = .seconds(2)
            configuration.connectTimeout = .seconds(2)
            let started = ContinuousClock.now
            #expect(throws: RedisError.self, "\(url)") { try RedisClient(configuration).ping() }
            #expect(ContinuousClock.now - started < .seconds(3))
        }
        // The name to verify can be given apart from the address connected to.
        var named = try RedisConfiguration(url: wrong.url(ca: certificates.ca))
        named.tls?.serverName = "elsewhere.example"
        named.timeout = .seconds(2)
        named.connectTimeout = .seconds(2)
        try RedisClient(named).ping()
        let plain = RedisClient(RedisConfiguration(host: "127.0.0.1", port: right.port, timeout: .milliseconds(300)))
        #expect(throws: RedisError.self) { try plain.ping() }
        for bad in ["redis://h:1?ca=/x", "rediss://h:1?cert=/x"] {
            #expect(throws: RedisError.self, "\(bad)") { try RedisConfiguration(url: bad) }
        }
        #expect(try RedisClusterConfiguration(url: "rediss-cluster://h:1,h:2?ca=/tmp/ca%20x.pem").tls
                == RedisTLS(caCertificatePath: "/tmp/ca x.pem"))
    }
}
