import CaskTestSupport
import Foundation
import Testing
@testable import Cask

/// The bytes a key hands out in place (`withCacheKeyBytes`, the read path) are its canonical bytes,
/// for every kind of key and every length, and a read through either finds the same entry.
@Suite("Key bytes in place")
struct CacheKeyBytesTests {
    static func inPlace(_ key: some CacheKey) throws -> [UInt8] { try key.withCacheKeyBytes { Array($0) } }

    @Test func inPlaceBytesAreTheCanonicalBytes() throws {
        let strings = ["", "a", "ключ", "🔑 key", String(repeating: "long-key/", count: 2000)]
        for s in strings {
            #expect(try Self.inPlace(s) == s.cacheKeyBytes)
            #expect(try Self.inPlace(s).first == 0x73)
        }
        let arrays: [[UInt8]] = [[], [0], [0xFF, 0x00, 0x7F], [UInt8](repeating: 9, count: 70_000)]
        for a in arrays {
            #expect(try Self.inPlace(a) == a.cacheKeyBytes)
            #expect(try Self.inPlace(Data(a)) == a.cacheKeyBytes)
        }
        #expect(try Self.inPlace(42) == 42.cacheKeyBytes)
        #expect(try Self.inPlace(2.5) == 2.5.cacheKeyBytes)
    }

    @Test func aKeyReadInPlaceFindsWhatWasStored() throws {
        let fixture = try makeCache()
        let cache = fixture.cache
        let long = String(repeating: "k", count: 5000)
        for key in ["short", long, ""] {
            try cache.set(key, Array(key.utf8) + [1])
            #expect(try cache.get(key) == Array(key.utf8) + [1])
        }
        let bytesKey: [UInt8] = [0, 1, 2]
        try cache.set(bytesKey, [7])
        #expect(try cache.get(bytesKey) == [7])
        #expect(try cache.get(Data(bytesKey)) == [7])
        #expect(try cache.get("absent") == nil)
    }
}
