import CaskTestSupport
import Foundation
@testable import CaskStore

extension StoreOptions {
    /// Small segments and no background compaction: deterministic tests.
    static func testing(shards: Int = 2, segmentSize: Int = 16 << 10) -> StoreOptions {
        var o = StoreOptions()
        o.shardCount = shards
        o.segmentSize = segmentSize
        o.automaticCompaction = false
        return o
    }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// The committed end of a shard's active segment (its file may be longer: space allocated ahead).
func committedEnd(_ store: Store, shard: Int = 0) -> Int {
    Int(LogPosition(packed: store.shards[shard].shared.load(.position)).offset)
}
func text(_ b: [UInt8]?) -> String? { b.map { String(decoding: $0, as: UTF8.self) } }

/// Reads a whole file into bytes.
func readFile(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path) ?? Data()) }
func writeFile(_ path: String, _ bytes: [UInt8]) { _ = FileManager.default.createFile(atPath: path, contents: Data(bytes)) }
