/// Splits a byte stream that arrives in chunks into lines (`\n`-terminated; a last line without
/// one is given by ``finish(_:)``).
///
/// Each byte is scanned once: a chunk is searched for newlines from where the previous search
/// stopped, never from the start of the unfinished line, so the work is linear in the input
/// however long a line is. A line longer than `maxLineLength` is reported as ``Line/tooLong(_:)``
/// with its length, and its bytes are dropped as they arrive instead of being buffered.
struct LineSplitter {
    enum Line: Equatable {
        /// A complete line, without its newline.
        case text(ArraySlice<UInt8>)
        /// A line longer than the maximum, with its length in bytes (its bytes are not kept).
        case tooLong(Int)
    }

    /// The longest line (in bytes, without its newline) that is kept.
    let maxLineLength: Int
    /// Bytes searched for a newline so far (for tests: the input's size, not its square).
    private(set) var bytesScanned = 0
    /// Bytes of the unfinished line that are kept (at most `maxLineLength`).
    private var pending: [UInt8] = []
    /// Length of the unfinished line when it is already too long (its bytes are dropped).
    private var droppedLength: Int?

    init(maxLineLength: Int) {
        self.maxLineLength = maxLineLength
    }

    /// Bytes held for the unfinished line.
    var bufferedBytes: Int { pending.count }

    /// Takes the next chunk, calling `emit` for every line it completes.
    mutating func feed(_ chunk: [UInt8], _ emit: (Line) throws -> Void) rethrows {
        var start = chunk.startIndex
        while start < chunk.endIndex {
            let newline = chunk[start...].firstIndex(of: 0x0A)
            let end = newline ?? chunk.endIndex
            bytesScanned += (newline.map { $0 + 1 } ?? end) - start
            let piece = chunk[start..<end]
            if let dropped = droppedLength {
                droppedLength = dropped + piece.count
            } else if pending.count + piece.count > maxLineLength {
                droppedLength = pending.count + piece.count
                pending = []
            } else if newline != nil && pending.isEmpty {
                // The whole line is inside this chunk: hand it over without copying.
                try emit(.text(piece))
                start = end + 1
                continue
            } else {
                pending += piece
            }
            guard newline != nil else { break }
            try completeLine(emit)
            start = end + 1
        }
    }

    /// Ends the input: the last line, if it had no newline.
    mutating func finish(_ emit: (Line) throws -> Void) rethrows {
        if droppedLength != nil || !pending.isEmpty { try completeLine(emit) }
    }

    private mutating func completeLine(_ emit: (Line) throws -> Void) rethrows {
        if let dropped = droppedLength {
            droppedLength = nil
            try emit(.tooLong(dropped))
        } else {
            let line = pending
            pending = []
            try emit(.text(line[...]))
        }
    }
}
