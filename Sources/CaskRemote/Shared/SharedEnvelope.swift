import Cask

/// The bytes a cache entry is kept as in a shared tier: enough for another machine's cache to
/// store the same entry (its value encoding, tag and expire time) without knowing the value's type.
///
///     "CKS" 0x01                      magic and version
///     encoding   UInt8                0 bytes, 1 string, 2 integer, 3 double, 4 coded
///     flags      UInt8                bit 0: expire time follows, bit 1: tag follows
///     [expire    Int64 LE]            µs since the epoch, the writer's clock
///     [tag       UInt32 LE length, UTF-8]
///     value      the rest             integer and double: 8 bytes LE; the others as stored
public struct SharedEnvelope: Sendable, Equatable {
    public var value: StoredValue
    /// Seconds since the epoch, or nil for never.
    public var expireTime: Double?
    public var tag: String?

    static let magic: [UInt8] = Array("CKS".utf8) + [1]

    public init(value: StoredValue, expireTime: Double?, tag: String?) {
        self.value = value
        self.expireTime = expireTime
        self.tag = tag
    }

    public func encoded() -> [UInt8] {
        var out = Self.magic
        let (encoding, payload): (UInt8, [UInt8]) = switch value {
        case .bytes(let b): (0, b)
        case .string(let s): (1, Array(s.utf8))
        case .integer(let n): (2, Self.le(UInt64(bitPattern: n)))
        case .double(let d): (3, Self.le(d.bitPattern))
        case .coded(let b): (4, b)
        }
        out.append(encoding)
        out.append((expireTime == nil ? 0 : 1) | (tag == nil ? 0 : 2))
        if let expireTime { out += Self.le(UInt64(bitPattern: Int64((expireTime * 1_000_000).rounded()))) }
        if let tag {
            let utf8 = Array(tag.utf8)
            out += Self.le(UInt64(utf8.count)).prefix(4)
            out += utf8
        }
        out += payload
        return out
    }

    /// Decodes `bytes`, or nil if they are not an envelope of this version (another writer's
    /// format, or a newer one): such a value is treated as a miss.
    public init?(decoding bytes: [UInt8]) {
        guard bytes.count >= 6, Array(bytes[0..<4]) == Self.magic else { return nil }
        let encoding = bytes[4], flags = bytes[5]
        guard flags & ~3 == 0 else { return nil }
        var i = 6
        if flags & 1 != 0 {
            guard bytes.count >= i + 8 else { return nil }
            expireTime = Double(Int64(bitPattern: Self.uint(bytes[i..<(i + 8)]))) / 1_000_000
            i += 8
        }
        if flags & 2 != 0 {
            guard bytes.count >= i + 4 else { return nil }
            let length = Int(Self.uint(bytes[i..<(i + 4)]))
            i += 4
            guard bytes.count - i >= length else { return nil }
            tag = String(decoding: bytes[i..<(i + length)], as: UTF8.self)
            i += length
        }
        let payload = Array(bytes[i...])
        switch encoding {
        case 0: value = .bytes(payload)
        case 1: value = .string(String(decoding: payload, as: UTF8.self))
        case 2, 3:
            guard payload.count == 8 else { return nil }
            let bits = Self.uint(payload[...])
            value = encoding == 2 ? .integer(Int64(bitPattern: bits)) : .double(Double(bitPattern: bits))
        case 4: value = .coded(payload)
        default: return nil
        }
    }

    static func le(_ n: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) }
    }

    static func uint(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
}
