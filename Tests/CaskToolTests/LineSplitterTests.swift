import Testing
@testable import cask

@Suite("import's line splitter")
struct LineSplitterTests {
    func split(_ chunks: [[UInt8]], max: Int) -> (lines: [LineSplitter.Line], scanned: Int, peak: Int) {
        var splitter = LineSplitter(maxLineLength: max)
        var lines: [LineSplitter.Line] = []
        var peak = 0
        for c in chunks {
            splitter.feed(c) { lines.append($0) }
            peak = Swift.max(peak, splitter.bufferedBytes)
        }
        splitter.finish { lines.append($0) }
        return (lines, splitter.bytesScanned, peak)
    }

    @Test func linesAcrossChunks() {
        let text = Array("ab\ncd\n\nlong line across chunks\nlast".utf8)
        for size in [1, 2, 3, 7, 100] {
            let chunks = stride(from: 0, to: text.count, by: size).map { Array(text[$0..<min($0 + size, text.count)]) }
            let r = split(chunks, max: 1000)
            #expect(r.lines == ["ab", "cd", "", "long line across chunks", "last"].map { .text(Array($0.utf8)[...]) }, "chunk \(size)")
            #expect(r.scanned == text.count, "chunk \(size)")
        }
    }

    /// One 4 MB line in 4 KiB chunks: each byte is scanned once (a rescan of the unfinished line
    /// at every chunk would scan about 2 GB).
    @Test func aLongLineIsScannedOnce() {
        let chunk = [UInt8](repeating: 0x61, count: 4096)
        var chunks = [[UInt8]](repeating: chunk, count: 1024)
        chunks.append(Array("\nnext\n".utf8))
        let r = split(chunks, max: 8 << 20)
        #expect(r.lines.count == 2)
        #expect(r.lines.first == .text([UInt8](repeating: 0x61, count: 4 << 20)[...]))
        #expect(r.lines.last == .text(Array("next".utf8)[...]))
        #expect(r.scanned == 4096 * 1024 + 6)
    }

    /// A line over the maximum is reported with its length and never buffered beyond the maximum;
    /// the lines around it are intact.
    @Test func aLineOverTheMaximumIsDroppedAsItArrives() {
        let chunks = [Array("ok\n".utf8), [UInt8](repeating: 0x62, count: 600), [UInt8](repeating: 0x62, count: 600),
                      Array("b\nafter\n".utf8), [UInt8](repeating: 0x63, count: 2000)]
        let r = split(chunks, max: 100)
        #expect(r.lines == [.text(Array("ok".utf8)[...]), .tooLong(1201), .text(Array("after".utf8)[...]), .tooLong(2000)])
        #expect(r.peak <= 100)
        let exact = split([[UInt8](repeating: 0x61, count: 100), [0x0A]], max: 100)
        #expect(exact.lines == [.text([UInt8](repeating: 0x61, count: 100)[...])])
    }
}
