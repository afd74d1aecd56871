#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CaskStore

/// A value that can be a cache key. Its canonical bytes are what is stored: the same key maps to
/// the same bytes in every process and every run. The first byte tells the kind, so keys of
/// different types never collide (`1` and `"1"` are different keys):
///
/// | type | bytes |
/// |---|---|
/// | `String` | `s` + UTF-8 |
/// | `[UInt8]`, `Data` | `b` + the bytes |
/// | integers | `i` + decimal digits (`Int`, `Int64`, `UInt8`… with the same value are the same key) |
/// | `Double` | `f` + the shortest decimal that reads back as the same `Double` |
/// | ``CodableKey`` | `j` + JSON with sorted object keys |
public protocol CacheKey: Sendable {
    /// The canonical bytes of the key.
    var cacheKeyBytes: [UInt8] { get }
    /// Calls `body` with the canonical bytes (valid only inside it). The default builds
    /// ``cacheKeyBytes``; strings and byte arrays lay them out in temporary storage instead, so a
    /// read allocates no key.
    func withCacheKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R
}

extension CacheKey {
    public func withCacheKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try cacheKeyBytes.withUnsafeBytes(body)
    }
}

extension String: CacheKey {
    /// `s` + the UTF-8 bytes.
    public var cacheKeyBytes: [UInt8] { prefixed(0x73, utf8) }

    @inlinable
    public func withCacheKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try withPrefixed(0x73, utf8, body)
    }
}

/// `tag` followed by `bytes` in temporary storage (on the stack when small), handed to `body`.
/// Inlinable with its callers, so that a caller's `get` specializes it (unspecialized, it
/// instantiated generic metadata on every call).
@inlinable @inline(__always)
func withPrefixed<R>(_ tag: UInt8, _ bytes: some Collection<UInt8>, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
    let n = bytes.count
    return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: n + 1) { buffer in
        buffer[0] = tag
        _ = UnsafeMutableBufferPointer(rebasing: buffer[1...]).initialize(from: bytes)
        return try body(UnsafeRawBufferPointer(buffer))
    }
}

/// `tag` followed by `bytes`, in one allocation (keys are built on every call).
@inline(__always)
func prefixed(_ tag: UInt8, _ bytes: some Collection<UInt8>) -> [UInt8] {
    let n = bytes.count
    return [UInt8](unsafeUninitializedCapacity: n + 1) { buffer, count in
        buffer[0] = tag
        _ = UnsafeMutableBufferPointer(rebasing: buffer[1...]).initialize(from: bytes)
        count = n + 1
    }
}

extension Array: CacheKey where Element == UInt8 {
    /// `b` + the bytes.
    public var cacheKeyBytes: [UInt8] { prefixed(0x62, self) }

    @inlinable
    public func withCacheKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try withPrefixed(0x62, self, body)
    }
}

extension Data: CacheKey {
    /// `b` + the bytes (the same key as the equal `[UInt8]`).
    public var cacheKeyBytes: [UInt8] { prefixed(0x62, self) }
}

extension Int: CacheKey { public var cacheKeyBytes: [UInt8] { [0x69] + Array(String(self).utf8) } }
extension Int64: CacheKey { public var cacheKeyBytes: [UInt8] { [0x69] + Array(String(self).utf8) } }
extension Int32: CacheKey { public var cacheKeyBytes: [UInt8] { [0x69] + Array(String(self).utf8) } }
extension UInt64: CacheKey { public var cacheKeyBytes: [UInt8] { [0x69] + Array(String(self).utf8) } }
extension UInt32: CacheKey { public var cacheKeyBytes: [UInt8] { [0x69] + Array(String(self).utf8) } }
extension Double: CacheKey { public var cacheKeyBytes: [UInt8] { [0x66] + Array("\(self)".utf8) } }

/// Any `Encodable` value as a key, through JSON with sorted keys (stable across runs for the same
/// value and type definition).
public struct CodableKey<Value: Encodable & Sendable>: CacheKey {
    /// The wrapped value.
    public let value: Value
    /// Wraps `value` as a key.
    public init(_ value: Value) { self.value = value }

    /// `j` + JSON with sorted object keys.
    public var cacheKeyBytes: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a value that is already in memory only fails for values JSON cannot represent
        // (non-finite floats); those become a distinct, stable key rather than a crash.
        let json = (try? encoder.encode(value)).map { Array($0) } ?? Array("\(value)".utf8)
        return [0x6A] + json
    }
}

/// A key as stored, decoded back for display (the command-line tool, listings).
public enum StoredKey: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case bytes([UInt8])
    case integer(String)
    case double(String)
    case json(String)
    /// Bytes that do not follow the typed encoding (written through the engine directly).
    case raw([UInt8])

    /// Decodes canonical key bytes (anything unrecognized, text that is not UTF-8 included, becomes
    /// ``raw(_:)``, so that ``cacheKeyBytes`` gives back exactly `bytes`).
    public init(bytes: [UInt8]) {
        guard let first = bytes.first else { self = .raw(bytes); return }
        let rest = Array(bytes.dropFirst())
        let text = String(validating: rest, as: UTF8.self)
        switch first {
        case 0x73: self = text.map(StoredKey.string) ?? .raw(bytes)
        case 0x62: self = .bytes(rest)
        case 0x69: self = text.map(StoredKey.integer) ?? .raw(bytes)
        case 0x66: self = text.map(StoredKey.double) ?? .raw(bytes)
        case 0x6A: self = text.map(StoredKey.json) ?? .raw(bytes)
        default: self = .raw(bytes)
        }
    }

    /// The key as text: strings as they are, bytes as `bytes:<base64>`.
    public var description: String {
        switch self {
        case .string(let s): s
        case .bytes(let b): "bytes:" + Data(b).base64EncodedString()
        case .integer(let s), .double(let s), .json(let s): s
        case .raw(let b): "raw:" + Data(b).base64EncodedString()
        }
    }
}
