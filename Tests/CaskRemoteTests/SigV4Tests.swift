import Cask
import CaskTestSupport
import Crypto
import NIOHTTP1
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@testable import CaskRemote

/// The signer against the example requests AWS publishes for SigV4 with S3 ("Signature Calculations
/// for the Authorization Header"): same credentials, time and requests, same signatures.
@Suite("SigV4 signing")
struct SigV4Tests {
    let signer = SigV4Signer(credentials: S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE",
                                                        secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                             region: "us-east-1")
    /// 2013-05-24T00:00:00Z.
    let time: Int64 = 1_369_353_600
    let host = RemoteURL(scheme: "https", host: "examplebucket.s3.amazonaws.com", path: "/")

    func authorization(_ method: String, path: String, query: String? = nil, headers: [(name: String, value: String)] = [],
                       payloadHash: String = SigV4Signer.emptyPayloadHash) -> String? {
        var h = headers
        var url = host
        url.path = path
        url.query = query
        signer.sign(method: method, url: url, headers: &h, payloadHash: payloadHash, time: time)
        return h.first { $0.name == "authorization" }?.value
    }

    @Test func getObjectWithRange() {
        #expect(SigV4Signer.timestamp(time) == "20130524T000000Z")
        let (canonical, signed) = SigV4Signer.canonicalRequest(
            method: "GET", path: "/test.txt", query: nil,
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
                      ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash), ("x-amz-date", "20130524T000000Z")],
            payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(signed == "host;range;x-amz-content-sha256;x-amz-date")
        #expect(SigV4Signer.hex(SHA256.hash(data: Array(canonical.utf8)))
                == "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
        #expect(authorization("GET", path: "/test.txt", headers: [("Range", "bytes=0-9")])
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func putObject() {
        let body = "Welcome to Amazon S3."
        let hash = SigV4Signer.hex(SHA256.hash(data: Array(body.utf8)))
        #expect(hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let auth = authorization("PUT", path: "/test%24file.text",
                                 headers: [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
                                 payloadHash: hash)
        #expect(auth?.hasSuffix("SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
                                + "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd") == true)
    }

    @Test func queryParametersAreSortedAndEncoded() {
        #expect(authorization("GET", path: "/", query: "lifecycle")?
            .hasSuffix("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543") == true)
        #expect(authorization("GET", path: "/", query: "prefix=J&max-keys=2")?
            .hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7") == true)
    }

    @Test func sessionTokenIsSigned() {
        let withToken = SigV4Signer(credentials: S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE",
                                                               secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                                                               sessionToken: "token-1"), region: "us-east-1")
        var h: [(name: String, value: String)] = []
        withToken.sign(method: "GET", url: host, headers: &h, payloadHash: SigV4Signer.emptyPayloadHash, time: time)
        #expect(h.contains { $0.name == "x-amz-security-token" && $0.value == "token-1" })
        #expect(h.first { $0.name == "authorization" }?.value.contains("x-amz-security-token") == true)
    }

    @Test func credentialsNeverShowTheSecret() {
        let c = S3Credentials(accessKeyID: "AKIDSHOWN", secretAccessKey: "very-secret-value", sessionToken: "secret-token")
        for text in [c.description, c.debugDescription, String(reflecting: c), "\(c)", String(describing: [c])] {
            #expect(!text.contains("very-secret-value") && !text.contains("secret-token"), "\(text)")
        }
        let token = BearerToken("bearer-secret")
        #expect(!String(reflecting: token).contains("bearer-secret") && !"\(token)".contains("bearer-secret"))
    }

    @Test func credentialsFromTheEnvironment() throws {
        let env = ["AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "tok",
                   "AWS_REGION": "eu-west-3", "AWS_ENDPOINT_URL": "http://127.0.0.1:9000"]
        let c = try S3Configuration.fromEnvironment(env)
        #expect(c.credentials == S3Credentials(accessKeyID: "id", secretAccessKey: "secret", sessionToken: "tok"))
        #expect(c.region == "eu-west-3")
        #expect(c.endpoint == RemoteURL(scheme: "http", host: "127.0.0.1", port: 9000, path: "/"))
        #expect(try S3Configuration.fromEnvironment(["AWS_ACCESS_KEY_ID": "id"]).credentials == nil)
        #expect(try S3Configuration.fromEnvironment([:]).region == "us-east-1")
    }
}

@Suite("S3 addressing and redirects")
struct AddressingTests {
    @Test func pathAndVirtualHostedURLs() throws {
        let aws = S3Configuration(region: "eu-west-1")
        #expect(aws.url(bucket: "daily-drop", key: "2026/11/data file.csv").description
                == "https://daily-drop.s3.eu-west-1.amazonaws.com/2026/11/data%20file.csv")
        // Dots in a bucket name would break the certificate's host match: path-style then.
        #expect(aws.url(bucket: "my.bucket", key: "k").description == "https://s3.eu-west-1.amazonaws.com/my.bucket/k")
        var forcedPath = aws
        forcedPath.addressing = .path
        #expect(forcedPath.url(bucket: "daily-drop", key: "a+b").description == "https://s3.eu-west-1.amazonaws.com/daily-drop/a%2Bb")
        let local = S3Configuration(endpoint: try RemoteURL(parsing: "http://127.0.0.1:8333"))
        #expect(local.url(bucket: "b-1", key: "x/y").description == "http://127.0.0.1:8333/b-1/x/y")
        var virtual = local
        virtual.addressing = .virtualHosted
        #expect(virtual.url(bucket: "b-1", key: "x/y").description == "http://b-1.127.0.0.1:8333/x/y")
    }

    @Test func objectsParse() throws {
        #expect(try RemoteObject(parsing: "s3://bucket/a/b.csv") == .s3(bucket: "bucket", key: "a/b.csv"))
        #expect(throws: RemoteError.self) { try RemoteObject(parsing: "s3://bucket/") }
        #expect(throws: RemoteError.self) { try RemoteObject(parsing: "ftp://host/x") }
        #expect(throws: RemoteError.self) { try RemoteObject(parsing: "https://user:pw@host/x") }
    }

    /// `timeout=SECONDS` in a shared-tier URL bounds each request instead of the default.
    @Test func tierURLsTakeATimeout() throws {
        #expect(try S3Tier(url: "s3://b/p", environment: [:]).client.timeout == .seconds(2))
        #expect(try S3Tier(url: "s3://b/p?timeout=30&endpoint=http%3A//127.0.0.1%3A1", environment: [:]).client.timeout == .seconds(30))
        #expect(try S3Tier(url: "s3://b?timeout=0.25", environment: [:]).client.timeout == .milliseconds(250))
        for bad in ["0", "-1", "abc", "301", "nan", ""] {
            #expect(throws: RemoteError.self, "timeout=\(bad)") { try S3Tier(url: "s3://b?timeout=\(bad)", environment: [:]) }
        }
    }

    @Test func redirectsKeepCredentialsOnTheirOrigin() throws {
        let headers = HTTPHeaders([("authorization", "Bearer t"), ("x-amz-date", "d"), ("accept", "*/*")])
        let request = RemoteRequest(method: .GET, url: try RemoteURL(parsing: "https://a.example/x"), headers: headers)
        let same = try RedirectPolicy.follow(request, status: 302, location: "/y")
        #expect(same.url.description == "https://a.example/y")
        #expect(same.headers.first(name: "authorization") == "Bearer t")
        let other = try RedirectPolicy.follow(request, status: 307, location: "https://b.example/y")
        #expect(other.headers.first(name: "authorization") == nil && other.headers.first(name: "x-amz-date") == nil)
        #expect(other.headers.first(name: "accept") == "*/*")
        let otherPort = try RedirectPolicy.follow(request, status: 301, location: "https://a.example:8443/y")
        #expect(otherPort.headers.first(name: "authorization") == nil)
        #expect(throws: RemoteError.self) { try RedirectPolicy.follow(request, status: 302, location: "http://a.example/y") }
        let post = RemoteRequest(method: .POST, url: request.url, headers: [:])
        #expect(try RedirectPolicy.follow(post, status: 303, location: "/z").method == .GET)
    }
}

/// Google Cloud Storage: its XML API is S3 with HMAC keys on storage.googleapis.com, or https
/// with a bearer token. Checked offline: what would be sent, not an answer from Google.
@Suite("Google Cloud Storage requests")
struct GoogleCloudStorageTests {
    let hmac = S3Credentials(accessKeyID: "GOOGTS7C7FUP3AIRVJTE2BCD", secretAccessKey: "bGoa+V7g/yqDXvKRqq+JTFn4uQZbPiQJo4pf9RzJ")

    @Test func xmlAPIWithHMACKeys() async throws {
        let gcs = S3Configuration.googleCloudStorage(credentials: hmac)
        #expect(gcs.url(bucket: "customer-drops", key: "2026-11-30/customers v2.csv").description
                == "https://storage.googleapis.com/customer-drops/2026-11-30/customers%20v2.csv")
        #expect(gcs.url(bucket: "customer-drops", key: "k").hostHeader == "storage.googleapis.com")
        let virtual = S3Configuration.googleCloudStorage(credentials: hmac, addressing: .virtualHosted)
        #expect(virtual.url(bucket: "customer-drops", key: "a/b.csv").description == "https://customer-drops.storage.googleapis.com/a/b.csv")
        // The environment route gives the same configuration.
        let environment = ["AWS_ENDPOINT_URL": "https://storage.googleapis.com", "AWS_REGION": "auto",
                           "AWS_ACCESS_KEY_ID": hmac.accessKeyID, "AWS_SECRET_ACCESS_KEY": hmac.secretAccessKey]
        #expect(try S3Configuration.fromEnvironment(environment) == gcs)

        // The request a fetch would send: signed for region "auto", service s3, host storage.googleapis.com.
        let dir = TemporaryDirectory("cask-gcs")
        try await withRemote(RemoteConfiguration(s3: gcs), dir: dir) { remote, _ in
            let object = RemoteObject.s3(bucket: "customer-drops", key: "a/b.csv")
            var request = RemoteRequest(method: .GET, url: remote.requestURL(object), headers: [:])
            let before = Int64(time(nil))
            let authorize = try #require(try remote.authorizer(object))
            try authorize(&request)
            #expect(request.url.description == "https://storage.googleapis.com/customer-drops/a/b.csv")
            let authorization = try #require(request.headers.first(name: "authorization"))
            let date = String(try #require(request.headers.first(name: "x-amz-date")).prefix(8))
            #expect(authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=\(hmac.accessKeyID)/\(date)/auto/s3/aws4_request,"))
            #expect(authorization.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"))
            // The signature is over host "storage.googleapis.com" (no port: https's default).
            var headers: [(name: String, value: String)] = []
            let signer = SigV4Signer(credentials: hmac, region: "auto")
            let stamp = request.headers.first(name: "x-amz-date")
            let time = try #require((before...before + 5).first { SigV4Signer.timestamp($0) == stamp })
            signer.sign(method: "GET", url: RemoteURL(scheme: "https", host: "storage.googleapis.com", path: "/customer-drops/a/b.csv"),
                        headers: &headers, payloadHash: SigV4Signer.emptyPayloadHash, time: time)
            #expect(headers.first { $0.name == "authorization" }?.value == authorization)
            #expect(!authorization.contains(hmac.secretAccessKey))
        }
    }

    @Test func httpsWithABearerToken() async throws {
        let token = BearerToken("ya29.test-token")
        try await withRemote(RemoteConfiguration(bearerToken: token)) { remote, _ in
            let object = try RemoteObject(parsing: "https://storage.googleapis.com/customer-drops/a/b.csv")
            var request = RemoteRequest(method: .GET, url: remote.requestURL(object), headers: [:])
            let authorize = try #require(try remote.authorizer(object))
            try authorize(&request)
            #expect(request.headers.first(name: "authorization") == "Bearer ya29.test-token")
            // S3 objects are not given the token.
            #expect(try remote.authorizer(.s3(bucket: "b", key: "k")) == nil)
        }
    }
}
