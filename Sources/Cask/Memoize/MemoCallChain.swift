import CaskStore

/// The memoized calls the current task (or thread, outside tasks) is computing, innermost first.
///
/// A memoized function may call itself — or another memoized function — with other arguments:
/// each nested call joins or leads its own flight. A call with the same arguments as one the
/// context is computing cannot be answered: with single flight it would wait for its own result
/// (forever), without it the recursion would never end. Such a call is refused with
/// `invalid-argument` before it joins anything. Child tasks (`async let`, task groups, `Task {}`)
/// inherit the chain, so they are refused too; a detached task does not. Circles through several
/// tasks are found by `MemoWaits`.
final class MemoCallChain: Sendable {
    /// The call's flight key (cache directory, 0, call key).
    let key: [UInt8]
    let parent: MemoCallChain?

    init(key: [UInt8], parent: MemoCallChain?) {
        self.key = key
        self.parent = parent
    }

    @TaskLocal static var current: MemoCallChain?

    /// The chain with `key` pushed on it.
    /// - Throws: `invalid-argument` if the context is already computing `key`.
    static func enter(_ key: [UInt8], function name: String) throws -> MemoCallChain {
        var link = current
        while let l = link {
            if l.key == key {
                throw CaskError(.invalidArgument, "memoized function \(name) called itself with the same arguments while computing "
                                + "their result: the call would wait for itself (\(describe(key)))")
            }
            link = l.parent
        }
        return MemoCallChain(key: key, parent: current)
    }
}
