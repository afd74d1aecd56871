import CaskStore
extension Cache {
    /// Wraps `body` so that its results are stored in this cache, keyed by the function's name,
    /// version and arguments. The function takes any number of arguments, zero included.
    ///
    /// ```swift
    /// let report = cache.memoize(name: "daily-report", validity: [.calendarPeriod(.day, in: zone)]) {
    ///     (region: String) in try buildReport(region)
    /// }
    /// let r = try report("emea")
    /// ```
    ///
    /// - Parameters:
    ///   - name: Names the function in every key; two functions must not share a name (except
    ///     the instances of one generic function, with `typed`).
    ///   - version: Part of every key: bump it when the function's results change meaning, and
    ///     only this function's stored results stop being used. At most 65,535 bytes of UTF-8
    ///     (longer: every call throws `invalid-argument`).
    ///   - expire: Time to live of the stored records (the engine removes them then).
    ///   - tag: The records' tag (for ``evict(tag:)``); default `"memo:<name>"`.
    ///   - typed: Put the argument types in the key. A memoized function's argument types are
    ///     fixed, so this matters when one name serves several types: a generic function that
    ///     memoizes its body under one name, called with an `Int` and with a `Double`. Untyped,
    ///     `1` and `1.0` are the same JSON number, hence the same call; typed, they are two.
    ///   - validity: Policies a stored result must all pass to be served; see ``ValidityPolicy``.
    ///   - stampede: Single flight, cross-process lock, stale serving, early recomputation.
    ///   - trackAccess: Count hits and record the last access of each result (one extra small
    ///     write per hit), for ``ValidityPolicy/custom(_:)`` policies that need them.
    ///   - body: The function. Its arguments must be `Encodable`, its result `Codable`.
    public func memoize<each A: Encodable, Output: Codable & Sendable>(
        name: String, version: String = "", expire: Expiry? = nil, tag: String? = nil, typed: Bool = false,
        validity: [ValidityPolicy] = [], stampede: StampedeProtection = StampedeProtection(), trackAccess: Bool = false,
        _ body: @escaping @Sendable (repeat each A) throws -> Output
    ) -> MemoizedFunction<repeat each A, Output> {
        let settings = MemoSettings(cache: self, name: name, version: version, expire: expire, tag: tag, typed: typed, validity: validity,
                                    stampede: stampede, trackAccess: trackAccess)
        let core: MemoCore<(repeat each A), Output> = settings.core()
        return MemoizedFunction(core: core, body: MemoizedFunction.ignoringItself(body))
    }

    /// ``memoize(name:version:expire:tag:typed:validity:stampede:trackAccess:_:)->MemoizedFunction<A,Output>``
    /// with a key made from part of the arguments: `keyedBy` maps the arguments to what identifies
    /// the call, so fields that do not change the result (a logger, a timeout, a connection) are
    /// left out, and the arguments themselves need not be `Encodable`.
    ///
    /// ```swift
    /// struct Query { var text: String; var page: Int; var timeout: Duration }
    /// let search = cache.memoize(name: "search", keyedBy: { (q: Query) in [q.text, String(q.page)] }) {
    ///     q in try runSearch(q)
    /// }
    /// ```
    public func memoize<each A, KeyPart: Encodable, Output: Codable & Sendable>(
        name: String, version: String = "", expire: Expiry? = nil, tag: String? = nil, typed: Bool = false,
        validity: [ValidityPolicy] = [], stampede: StampedeProtection = StampedeProtection(), trackAccess: Bool = false,
        keyedBy keyPart: @escaping @Sendable (repeat each A) -> KeyPart,
        _ body: @escaping @Sendable (repeat each A) throws -> Output
    ) -> MemoizedFunction<repeat each A, Output> {
        let settings = MemoSettings(cache: self, name: name, version: version, expire: expire, tag: tag, typed: typed, validity: validity,
                                    stampede: stampede, trackAccess: trackAccess)
        let core: MemoCore<(repeat each A), Output> = settings.core(keyedBy: keyPart)
        return MemoizedFunction(core: core, body: MemoizedFunction.ignoringItself(body))
    }

    /// Wraps an `async` function; see ``memoize(name:version:expire:tag:typed:validity:stampede:trackAccess:_:)``.
    public func memoize<each A: Encodable, Output: Codable & Sendable>(
        name: String, version: String = "", expire: Expiry? = nil, tag: String? = nil, typed: Bool = false,
        validity: [ValidityPolicy] = [], stampede: StampedeProtection = StampedeProtection(), trackAccess: Bool = false,
        _ body: @escaping @Sendable (repeat each A) async throws -> Output
    ) -> AsyncMemoizedFunction<repeat each A, Output> {
        let settings = MemoSettings(cache: self, name: name, version: version, expire: expire, tag: tag, typed: typed, validity: validity,
                                    stampede: stampede, trackAccess: trackAccess)
        let core: MemoCore<(repeat each A), Output> = settings.core()
        return AsyncMemoizedFunction(core: core, body: AsyncMemoizedFunction.ignoringItself(body))
    }

    /// Wraps an `async` function with a key made from part of its arguments.
    public func memoize<each A, KeyPart: Encodable, Output: Codable & Sendable>(
        name: String, version: String = "", expire: Expiry? = nil, tag: String? = nil, typed: Bool = false,
        validity: [ValidityPolicy] = [], stampede: StampedeProtection = StampedeProtection(), trackAccess: Bool = false,
        keyedBy keyPart: @escaping @Sendable (repeat each A) -> KeyPart,
        _ body: @escaping @Sendable (repeat each A) async throws -> Output
    ) -> AsyncMemoizedFunction<repeat each A, Output> {
        let settings = MemoSettings(cache: self, name: name, version: version, expire: expire, tag: tag, typed: typed, validity: validity,
                                    stampede: stampede, trackAccess: trackAccess)
        let core: MemoCore<(repeat each A), Output> = settings.core(keyedBy: keyPart)
        return AsyncMemoizedFunction(core: core, body: AsyncMemoizedFunction.ignoringItself(body))
    }
}
