import Dispatch
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// TLS for a Redis connection (`rediss://`): the server's certificate is verified against the
/// system's trust roots, or against `caCertificatePath` (a PEM file) when given, and its name
/// against `serverName` (default: the host connected to).
public struct RedisTLS: Sendable, Hashable {
    /// PEM file of the certificate authorities to trust instead of the system's.
    public var caCertificatePath: String?
    /// The name the server's certificate must carry (SNI and verification); nil: the host.
    public var serverName: String?

    public init(caCertificatePath: String? = nil, serverName: String? = nil) {
        self.caCertificatePath = caCertificatePath
        self.serverName = serverName
    }
}

/// A TLS connection (swift-nio-ssl over a SwiftNIO channel on the shared event loop group), used
/// through the same blocking, deadline-bounded calls as ``RedisSocket``: a call waits on a
/// semaphore for the channel's events until its deadline.
final class TLSTransport: RedisTransport, @unchecked Sendable {
    // @unchecked: `channel` is set once in init; `inbox` is guarded by its own mutex.
    private let channel: any Channel
    private let inbox: Inbox

    /// What the channel delivered: bytes not yet taken, and how it ended.
    final class Inbox: Sendable {
        struct State {
            var bytes: [UInt8] = []
            var failure: RedisError?
        }
        let state = Mutex(State())
        let signal = DispatchSemaphore(value: 0)

        func deliver(_ body: @Sendable (inout State) -> Void) {
            state.withLock { body(&$0) }
            signal.signal()
        }
    }

    private final class Reader: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked: used only on its channel's event loop; `inbox` is Sendable.
        typealias InboundIn = ByteBuffer
        let inbox: Inbox
        init(_ inbox: Inbox) { self.inbox = inbox }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            inbox.deliver { $0.bytes += bytes }
        }

        func channelInactive(context: ChannelHandlerContext) {
            inbox.deliver { s in if s.failure == nil { s.failure = .connection("the server closed the connection", errno: 0) } }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            inbox.deliver { s in if s.failure == nil { s.failure = .connection("TLS: \(error)", errno: 0) } }
            context.close(promise: nil)
        }
    }

    /// Contexts by settings: loading trust roots is not free, and every connection of a client
    /// uses the same.
    private static let contexts = Mutex<[RedisTLS: NIOSSLContext]>([:])

    private static func context(_ tls: RedisTLS) throws(RedisError) -> NIOSSLContext {
        if let made = contexts.withLock({ $0[tls] }) { return made }
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let path = tls.caCertificatePath {
            configuration.trustRoots = .file(path)
        }
        do {
            let made = try NIOSSLContext(configuration: configuration)
            contexts.withLock { $0[tls] = made }
            return made
        } catch {
            throw .connection("TLS settings: \(error)", errno: 0)
        }
    }

    /// Connects and completes the TLS handshake before `deadline`.
    init(host: String, port: Int, tls: RedisTLS, deadline: ContinuousClock.Instant) throws(RedisError) {
        let context = try Self.context(tls)
        let inbox = Inbox()
        let serverName = tls.serverName ?? host
        // SNI carries names only; an address is verified against the certificate's IP entries.
        let sni = serverName.contains(where: { $0.isLetter }) && !serverName.contains(":") ? serverName : nil
        let timeout = deadline - ContinuousClock.now
        guard timeout > .zero else { throw .timeout }
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.nanoseconds(timeout.nanoseconds))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try NIOSSLClientHandler(context: context, serverHostname: sni)
                    try channel.pipeline.syncOperations.addHandler(handler)
                    try channel.pipeline.syncOperations.addHandler(Reader(inbox))
                }
            }
        let connected = Self.wait(bootstrap.connect(host: host, port: port), until: deadline)
        switch connected {
        case .success(let channel): self.channel = channel
        case .failure(let error): throw error
        }
        self.inbox = inbox
    }

    deinit { channel.close(promise: nil) }

    func send(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws(RedisError) {
        let written = Self.wait(channel.writeAndFlush(ByteBuffer(bytes: bytes)), until: deadline)
        if case .failure(let error) = written { throw error }
    }

    func receive(into decoder: inout RESPDecoder, deadline: ContinuousClock.Instant) throws(RedisError) {
        while true {
            let (bytes, failure) = inbox.state.withLock { s -> ([UInt8], RedisError?) in
                defer { s.bytes = [] }
                return (s.bytes, s.bytes.isEmpty ? s.failure : nil)
            }
            if !bytes.isEmpty {
                decoder.feed(bytes)
                return
            }
            if let failure { throw failure }
            guard ContinuousClock.now < deadline else { throw .timeout }
            _ = semaphoreWait(inbox.signal, until: deadline)
        }
    }

    /// The future's value, or `.timeout` at `deadline` (the operation is left to finish or fail
    /// on its own), or its error as `.connection`.
    private static func wait<T: Sendable>(_ future: EventLoopFuture<T>, until deadline: ContinuousClock.Instant) -> Result<T, RedisError> {
        guard let outcome = waitForFuture(future, until: deadline) else {
            future.whenSuccess { value in
                if let channel = value as? any Channel { channel.close(promise: nil) }   // connected too late
            }
            return .failure(.timeout)
        }
        return outcome.mapError { .connection("\($0)", errno: 0) }
    }
}
