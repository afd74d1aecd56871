#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a Redis call failed.
public enum RedisError: Error, Sendable, Equatable {
    /// The call did not finish before its deadline.
    case timeout
    /// The connection could not be made or broke (errno, or 0 when the peer closed it).
    case connection(String, errno: Int32)
    /// The server answered with an error reply (`-ERR …`, `-WRONGPASS …`).
    case server(String)
    /// The reply was not RESP2, or not what the command returns.
    case protocolError(String)
}

/// A byte stream to a Redis server whose every operation waits at most until a deadline.
protocol RedisTransport: AnyObject {
    /// Writes all of `bytes` before `deadline`.
    func send(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws(RedisError)
    /// Feeds `decoder` what has arrived (at least one byte) before `deadline`.
    func receive(into decoder: inout RESPDecoder, deadline: ContinuousClock.Instant) throws(RedisError)
}

/// A non-blocking TCP socket whose every operation waits at most until a deadline (poll(2)).
final class RedisSocket: RedisTransport {
    private let fd: Int32

    /// Connects to `host`:`port` (a numeric address or a name) before `deadline`.
    init(host: String, port: Int, deadline: ContinuousClock.Instant) throws(RedisError) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw .connection("cannot resolve \(host): \(String(cString: gai_strerror(status)))", errno: 0)
        }
        defer { freeaddrinfo(list) }
        var lastError = RedisError.connection("no address for \(host)", errno: 0)
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            candidate = info.pointee.ai_next
            do {
                fd = try Self.connect(info.pointee, deadline: deadline)
                return
            } catch {
                lastError = error
                if error == .timeout { throw error }
            }
        }
        throw lastError
    }

    deinit { close(fd) }

    private static func connect(_ info: addrinfo, deadline: ContinuousClock.Instant) throws(RedisError) -> Int32 {
        let fd = socket(info.ai_family, info.ai_socktype, info.ai_protocol)
        guard fd >= 0 else { throw .connection("socket", errno: errno) }
        var ok = false
        defer { if !ok { close(fd) } }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        #if canImport(Darwin)
        _ = setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        if systemConnect(fd, info.ai_addr, info.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else { throw .connection("connect", errno: errno) }
            try wait(fd, for: Int16(POLLOUT), until: deadline)
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            guard error == 0 else { throw .connection("connect", errno: error) }
        }
        ok = true
        return fd
    }

    /// Writes all of `bytes` before `deadline`.
    func send(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws(RedisError) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                #if canImport(Glibc)
                Glibc.send(fd, buffer.baseAddress! + sent, buffer.count - sent, Int32(MSG_NOSIGNAL))
                #else
                Darwin.send(fd, buffer.baseAddress! + sent, buffer.count - sent, 0)
                #endif
            }
            if n > 0 {
                sent += n
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                try Self.wait(fd, for: Int16(POLLOUT), until: deadline)
            } else {
                throw .connection("send", errno: errno)
            }
        }
    }

    /// Reads what has arrived (at least one byte) before `deadline`.
    func receive(into decoder: inout RESPDecoder, deadline: ContinuousClock.Instant) throws(RedisError) {
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n > 0 {
                decoder.feed(chunk[0..<n])
                return
            }
            if n == 0 { throw .connection("the server closed the connection", errno: 0) }
            guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else {
                throw .connection("recv", errno: errno)
            }
            try Self.wait(fd, for: Int16(POLLIN), until: deadline)
        }
    }

    private static func wait(_ fd: Int32, for events: Int16, until deadline: ContinuousClock.Instant) throws(RedisError) {
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw .timeout }
            let (seconds, attoseconds) = left.components
            let millis = Int32(clamping: seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&entry, 1, max(millis, 1))
            if ready > 0 { return }
            if ready < 0 && errno != EINTR { throw .connection("poll", errno: errno) }
        }
    }
}

#if canImport(Glibc)
private let systemConnect = Glibc.connect
#else
private let systemConnect = Darwin.connect
#endif
