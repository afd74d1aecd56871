/// What a record whose value lives in a value file holds in its value field (flag `valueInFile`):
///
///     0  u64 size of the file in bytes
///     8  u8  content flags (bit 0: the file holds a compressed value; opaque to the engine)
///     9  path relative to `<dir>/values/`, UTF-8: two hex digits, "/", 30 hex digits, ".val"
///
/// Only the engine writes and parses references; the layer above sees value files through
/// ``NewValueFile`` (writing) and ``ValueFileReader`` (reading).
package struct ValueFileReference: Equatable, Hashable, Sendable {
    package var size: Int
    package var contentFlags: UInt8
    package var path: String

    /// Content flag: the file holds a compressed value.
    package static let compressed: UInt8 = 1

    package init(size: Int, contentFlags: UInt8, path: String) {
        self.size = size
        self.contentFlags = contentFlags
        self.path = path
    }

    package var encoded: [UInt8] {
        var b = withUnsafeBytes(of: UInt64(size).littleEndian) { Array($0) }
        b.append(contentFlags)
        b += Array(path.utf8)
        return b
    }

    /// Parses a reference; rejects anything that could name a file outside the values directory.
    package init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 9, bytes.count - 9 < 256 else { return nil }
        let size = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard size <= UInt64(Int.max) else { return nil }
        self.size = Int(size)
        contentFlags = bytes[8]
        guard let p = String(validating: bytes[9...], as: UTF8.self), ValueFileReference.isWellFormed(p) else { return nil }
        path = p
    }

    /// "xx/" + 30 lowercase hex digits + ".val": the only names the engine creates.
    package static func isWellFormed(_ path: String) -> Bool {
        let u = Array(path.utf8)
        guard u.count == 37, u[2] == UInt8(ascii: "/"), u[33...].elementsEqual(".val".utf8) else { return false }
        return (u[0..<2] + u[3..<33]).allSatisfy(isLowerHex)
    }

    static func isLowerHex(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f"))
    }

    /// A new, unused relative path: two hex digits of fan-out, then 30 random hex digits.
    static func randomPath() -> String {
        let hex = Array("0123456789abcdef".utf8)
        var g = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(37)
        for i in 0..<32 {
            if i == 2 { bytes.append(UInt8(ascii: "/")) }
            bytes.append(hex[Int(g.next() & 15)])
        }
        return String(decoding: bytes + Array(".val".utf8), as: UTF8.self)
    }
}
