/// A value of RESP2, the protocol Redis speaks: what a server replies and, as arrays of bulk
/// strings, what a client sends.
public enum RESPValue: Sendable, Equatable {
    /// `+OK`
    case simple(String)
    /// `-ERR …`: the server refused the command.
    case error(String)
    /// `:42`
    case integer(Int64)
    /// `$3\r\nabc`, or nil for the null bulk string (`$-1`).
    case bulk([UInt8]?)
    /// `*2\r\n…`, or nil for the null array (`*-1`).
    case array([RESPValue]?)
}

/// A malformed reply, or one the server answered with an error.
public struct RESPError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// RESP2 encoding of commands: each command an array of bulk strings.
public enum RESPEncoder {
    /// Appends `command` (its name first) to `out` as an array of bulk strings.
    public static func append(_ command: [[UInt8]], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "*"))
        appendDecimal(command.count, to: &out)
        for argument in command {
            out.append(UInt8(ascii: "$"))
            appendDecimal(argument.count, to: &out)
            out.append(contentsOf: argument)
            out.append(contentsOf: crlf)
        }
    }

    /// Several commands back to back, as one pipelined write.
    public static func encode(_ commands: [[[UInt8]]]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(commands.reduce(0) { $0 + $1.reduce(16) { $0 + $1.count + 16 } })
        for command in commands { append(command, to: &out) }
        return out
    }

    static let crlf: [UInt8] = [13, 10]

    static func appendDecimal(_ n: Int, to out: inout [UInt8]) {
        out.append(contentsOf: Array(String(n).utf8))
        out.append(contentsOf: crlf)
    }
}

/// An incremental RESP2 reply reader: bytes go in as they arrive; complete replies come out.
public struct RESPDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0
    /// The longest bulk string or array accepted (a corrupt length must not allocate gigabytes).
    public var maximumLength = 512 * 1024 * 1024

    public init() {}

    /// Bytes received and not yet consumed by ``next()``.
    public var pendingCount: Int { buffer.count - start }

    /// Adds received bytes.
    public mutating func feed(_ bytes: some Sequence<UInt8>) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete reply, or nil if more bytes are needed. A server error reply is returned
    /// as ``RESPValue/error(_:)``, not thrown.
    /// - Throws: ``RESPError`` for bytes that are not RESP2 (the connection is then unusable).
    public mutating func next() throws(RESPError) -> RESPValue? {
        var position = start
        guard let value = try parse(&position) else { return nil }
        start = position
        if start > 65_536 && start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
        return value
    }

    private func parse(_ position: inout Int) throws(RESPError) -> RESPValue? {
        guard position < buffer.count else { return nil }
        let kind = buffer[position]
        guard let line = try lineEnd(after: position + 1) else { return nil }
        let text = buffer[(position + 1)..<line]
        position = line + 2
        switch kind {
        case UInt8(ascii: "+"): return .simple(String(decoding: text, as: UTF8.self))
        case UInt8(ascii: "-"): return .error(String(decoding: text, as: UTF8.self))
        case UInt8(ascii: ":"): return .integer(try integer(text))
        case UInt8(ascii: "$"):
            let length = try integer(text)
            if length == -1 { return .bulk(nil) }
            guard length >= 0, length <= maximumLength else { throw RESPError("bad bulk length \(length)") }
            let end = position + Int(length)
            guard end + 2 <= buffer.count else { return nil }
            guard buffer[end] == 13, buffer[end + 1] == 10 else { throw RESPError("bulk string not ended by CRLF") }
            let bytes = Array(buffer[position..<end])
            position = end + 2
            return .bulk(bytes)
        case UInt8(ascii: "*"):
            let count = try integer(text)
            if count == -1 { return .array(nil) }
            guard count >= 0, count <= maximumLength else { throw RESPError("bad array length \(count)") }
            var elements: [RESPValue] = []
            elements.reserveCapacity(min(Int(count), 1024))
            for _ in 0..<count {
                guard let element = try parse(&position) else { return nil }
                elements.append(element)
            }
            return .array(elements)
        default:
            throw RESPError("unknown reply type byte \(kind)")
        }
    }

    /// The index of the CR of the first CRLF at or after `from`, or nil if none has arrived.
    private func lineEnd(after from: Int) throws(RESPError) -> Int? {
        var i = from
        while i + 1 < buffer.count {
            if buffer[i] == 13 {
                guard buffer[i + 1] == 10 else { throw RESPError("CR without LF in a reply line") }
                return i
            }
            i += 1
        }
        return nil
    }

    private func integer(_ text: ArraySlice<UInt8>) throws(RESPError) -> Int64 {
        guard let n = Int64(String(decoding: text, as: UTF8.self)) else {
            throw RESPError("not an integer: \(String(decoding: text.prefix(32), as: UTF8.self))")
        }
        return n
    }
}
