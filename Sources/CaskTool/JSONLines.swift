import Cask
import Foundation

/// A line of `import` that cannot be stored; reported with its line number.
struct LineError: Error { var message: String }

/// One JSON Lines record of `import`/`export`.
///
/// An entry: `{"key": "k", "value": "text"}` or `{"key": "k", "value_base64": "..."}`, optional
/// `"tag"`, `"expire"` (seconds from now) and `"type"` (string, integer, double, coded; bytes
/// when absent). A key that is not a string is written as `"key_raw_base64"` (its canonical bytes).
///
/// A record of the cache's own namespace (queue bounds, collection counts, throttle state,
/// memoize access records): `{"internal": true, "key_raw_base64": "...", "value_base64": "..."}`
/// with optional `"flags"` (the record flags, when not 0), `"tag"` (or `"tag_base64"` when it is
/// not UTF-8) and `"expire"`; it is written back byte for byte.
struct JSONLine {
    enum Content {
        case entry(key: [UInt8], value: StoredValue)
        case internalRecord(InternalRecord)
    }

    var content: Content
    var expire: Expiry?
    var tag: String?
    /// Expire time (seconds since the epoch) of an exported record.
    var expireTime: Double?

    /// The key as `--ack` prints it.
    var display: String {
        switch content {
        case .entry(let key, _): StoredKey(bytes: key).description
        case .internalRecord(let r): "internal:" + Data(r.key).base64EncodedString()
        }
    }

    func store(in cache: Cache) throws {
        switch content {
        case .entry(let key, let value): try cache.setStored(rawKey: key, value, expire: expire, tag: tag)
        case .internalRecord(let r): try cache.setInternalRecord(r, expire: expire)
        }
    }

    // MARK: Export

    /// The line for the live record under `key`, or nil if it is gone.
    init?(exporting key: [UInt8], from cache: Cache) throws {
        if InternalRecord.isInternal(key) {
            guard let (record, expireTime) = try cache.internalRecord(rawKey: key) else { return nil }
            content = .internalRecord(record)
            self.expireTime = expireTime
        } else {
            guard let stored = try cache.storedValue(rawKey: key) else { return nil }
            content = .entry(key: key, value: stored.value)
            tag = stored.tag
            expireTime = stored.expireTime
        }
    }

    func rendered(now: Double) -> String {
        var object: [String: Any] = [:]
        switch content {
        case .entry(let key, let value):
            if case .string(let s) = StoredKey(bytes: key) {
                object["key"] = s
            } else {
                object["key_raw_base64"] = Data(key).base64EncodedString()
            }
            let bytes = value.renderedBytes
            if let text = String(validating: bytes, as: UTF8.self) {
                object["value"] = text
            } else {
                object["value_base64"] = Data(bytes).base64EncodedString()
            }
            if value.typeName != "bytes" { object["type"] = value.typeName }
            if let tag { object["tag"] = tag }
        case .internalRecord(let r):
            object["internal"] = true
            object["key_raw_base64"] = Data(r.key).base64EncodedString()
            object["value_base64"] = Data(r.value).base64EncodedString()
            if r.flags != 0 { object["flags"] = Int(r.flags) }
            if !r.tag.isEmpty {
                if let text = String(validating: r.tag, as: UTF8.self) {
                    object["tag"] = text
                } else {
                    object["tag_base64"] = Data(r.tag).base64EncodedString()
                }
            }
        }
        if let expireTime { object["expire"] = max(0.001, expireTime - now) }
        return jsonString(object)
    }

    // MARK: Import

    init(parsing data: Data) throws {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LineError(message: "not a JSON object")
        }
        if let e = object["expire"] {
            // Too far away to represent (past the Int64 µs range): never expires, as in the API.
            guard let seconds = (e as? NSNumber)?.doubleValue, seconds > 0 else {
                throw LineError(message: "\"expire\" must be a positive number of seconds")
            }
            expire = Expiry(seconds: seconds)
        }
        if let t = object["tag"] {
            guard let s = t as? String else { throw LineError(message: "\"tag\" must be a string") }
            tag = s
        }
        if let flag = object["internal"] {
            guard flag as? Bool == true else { throw LineError(message: "\"internal\" must be true when present") }
            content = .internalRecord(try JSONLine.internalRecord(object, tag: tag))
        } else {
            content = try JSONLine.entry(object)
        }
    }

    static func base64(_ object: [String: Any], _ name: String) throws -> [UInt8]? {
        guard let v = object[name] else { return nil }
        guard let s = v as? String, let d = Data(base64Encoded: s) else { throw LineError(message: "\"\(name)\" is not base64") }
        return [UInt8](d)
    }

    static func internalRecord(_ object: [String: Any], tag: String?) throws -> InternalRecord {
        guard let key = try base64(object, "key_raw_base64"), InternalRecord.isInternal(key) else {
            throw LineError(message: "an internal record needs \"key_raw_base64\" starting with a 0x00 byte")
        }
        guard let value = try base64(object, "value_base64") else {
            throw LineError(message: "an internal record needs \"value_base64\"")
        }
        var flags: UInt8 = 0
        if let f = object["flags"] {
            guard let n = (f as? NSNumber)?.intValue, let byte = UInt8(exactly: n) else {
                throw LineError(message: "\"flags\" must be an integer 0...255")
            }
            flags = byte
        }
        let tagBytes = try base64(object, "tag_base64") ?? Array((tag ?? "").utf8)
        return InternalRecord(key: key, value: value, flags: flags, tag: tagBytes)
    }

    static func entry(_ object: [String: Any]) throws -> Content {
        let key: [UInt8]
        if let k = object["key"] as? String {
            key = k.cacheKeyBytes
        } else if let raw = object["key_raw_base64"] as? String, let bytes = Data(base64Encoded: raw), !bytes.isEmpty {
            key = [UInt8](bytes)
        } else {
            throw LineError(message: "missing \"key\" (a string)")
        }
        let bytes: [UInt8]
        if let v = object["value"] as? String {
            bytes = Array(v.utf8)
        } else if let b = try base64(object, "value_base64") {
            bytes = b
        } else {
            throw LineError(message: "missing \"value\" or \"value_base64\"")
        }
        let value: StoredValue
        switch object["type"] as? String ?? "bytes" {
        case "bytes": value = .bytes(bytes)
        case "string":
            guard let s = String(validating: bytes, as: UTF8.self) else { throw LineError(message: "string value is not UTF-8") }
            value = .string(s)
        case "integer":
            guard let n = Int64(String(decoding: bytes, as: UTF8.self)) else { throw LineError(message: "integer value is not a number") }
            value = .integer(n)
        case "double":
            guard let d = Double(String(decoding: bytes, as: UTF8.self)) else { throw LineError(message: "double value is not a number") }
            value = .double(d)
        case "coded": value = .coded(bytes)
        case let other: throw LineError(message: "unknown \"type\" \(other)")
        }
        return .entry(key: key, value: value)
    }
}
