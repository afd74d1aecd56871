import CaskStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Encodes and decodes values that have no native representation (any `Codable`). Only data
/// formats: nothing read from the cache directory can execute code or pick the type to create —
/// the caller names the type.
public protocol CacheCoder: Sendable {
    func encode<T: Encodable>(_ value: T) throws -> [UInt8]
    func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T
}

/// The default coder: JSON with sorted keys.
public struct JSONCacheCoder: CacheCoder {
    public init() {}

    /// JSON with sorted object keys.
    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }

    /// Decodes JSON as `type`.
    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(bytes))
    }
}

/// How a value is represented in a record (bits 2–4 of the record flags).
enum ValueEncoding: UInt8, Sendable {
    case bytes = 0
    case string = 1
    case integer = 2
    case double = 3
    case coded = 4

    init?(flags: UInt8) { self.init(rawValue: (flags & RecordFlags.encodingMask) >> 2) }
    var flags: UInt8 { rawValue << 2 }
}

/// Native encodings: bytes, strings, integers and doubles are stored as themselves; anything else
/// goes through the cache's coder.
enum ValueCodec {
    static func encode<V: Encodable>(_ value: V, coder: any CacheCoder) throws -> (ValueEncoding, [UInt8]) {
        switch value {
        case let v as [UInt8]: return (.bytes, v)
        case let v as Data: return (.bytes, Array(v))
        case let v as String: return (.string, Array(v.utf8))
        case let v as Int: return (.integer, le(Int64(v)))
        case let v as Int64: return (.integer, le(v))
        case let v as Int32: return (.integer, le(Int64(v)))
        case let v as Double: return (.double, le(Int64(bitPattern: v.bitPattern)))
        default:
            do {
                return (.coded, try coder.encode(value))
            } catch {
                throw CaskError(.invalidArgument, "value of type \(V.self) cannot be encoded: \(error)")
            }
        }
    }

    static func decode<V: Decodable>(_ type: V.Type, encoding: ValueEncoding, bytes: [UInt8], coder: any CacheCoder) throws -> V {
        func mismatch() -> CaskError {
            CaskError(.typeMismatch, "stored value is \(encoding) data, not \(V.self)")
        }
        switch type {
        case is [UInt8].Type:
            guard encoding == .bytes else { throw mismatch() }
            return bytes as! V
        case is Data.Type:
            guard encoding == .bytes else { throw mismatch() }
            return Data(bytes) as! V
        case is String.Type:
            guard encoding == .string, let s = String(validating: bytes, as: UTF8.self) else { throw mismatch() }
            return s as! V
        case is Int.Type, is Int64.Type, is Int32.Type:
            guard encoding == .integer, bytes.count == 8 else { throw mismatch() }
            let n = int64(bytes)
            if V.self == Int.self { return Int(n) as! V }
            if V.self == Int32.self {
                guard let small = Int32(exactly: n) else { throw mismatch() }
                return small as! V
            }
            return n as! V
        case is Double.Type:
            guard encoding == .double, bytes.count == 8 else { throw mismatch() }
            return Double(bitPattern: UInt64(bitPattern: int64(bytes))) as! V
        default:
            if encoding != .coded, let optional = type as? any NativeOptional.Type {
                return try optional.decodeNative(encoding: encoding, bytes: bytes, coder: coder) as! V
            }
            guard encoding == .coded else { throw mismatch() }
            do {
                return try coder.decode(V.self, from: bytes)
            } catch {
                throw CaskError(.typeMismatch, "stored value does not decode as \(V.self): \(error)")
            }
        }
    }

    /// The native encoding values of `type` are stored in; nil for types that go through a coder.
    static func nativeEncoding(of type: Any.Type) -> ValueEncoding? {
        switch type {
        case is [UInt8].Type, is Data.Type: return .bytes
        case is String.Type: return .string
        case is Int.Type, is Int64.Type, is Int32.Type: return .integer
        case is Double.Type: return .double
        default: return nil
        }
    }

    static func le(_ v: Int64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    static func int64(_ b: [UInt8]) -> Int64 {
        b.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) }
    }
}

/// An optional of a natively stored type. `encode` stores `Optional(5)` as the integer 5 (the
/// cast to `Int` looks through the optional), so reading it back as `Int?` takes the native
/// encoding of the wrapped type; `nil` is stored through the coder (`null`) and read back there.
protocol NativeOptional {
    static func decodeNative(encoding: ValueEncoding, bytes: [UInt8], coder: any CacheCoder) throws -> Self
}

extension Optional: NativeOptional where Wrapped: Decodable {
    static func decodeNative(encoding: ValueEncoding, bytes: [UInt8], coder: any CacheCoder) throws -> Wrapped? {
        .some(try ValueCodec.decode(Wrapped.self, encoding: encoding, bytes: bytes, coder: coder))
    }
}
