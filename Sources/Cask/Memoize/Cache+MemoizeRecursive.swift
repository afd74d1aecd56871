import CaskStore
extension Cache {
    /// A memoized function that calls itself: `body` receives the memoized function, so every
    /// recursive call is memoized too (and shares the single flight of its arguments).
    ///
    /// ```swift
    /// let fib = cache.memoizeRecursive(name: "fib") { fib, n in n < 2 ? n : try fib(n - 1) + fib(n - 2) }
    /// let f90 = try fib(90)     // 91 computations, each stored
    /// ```
    ///
    /// A call with the same arguments as one still being computed in the same task (or thread)
    /// throws `invalid-argument` instead of waiting for itself. The parameters are those of
    /// ``memoize(name:version:expire:tag:typed:validity:stampede:trackAccess:_:)->MemoizedFunction<A,Output>``.
    public func memoizeRecursive<each A: Encodable, Output: Codable & Sendable>(
        name: String, version: String = "", expire: Expiry? = nil, tag: String? = nil, typed: Bool = false,
        validity: [ValidityPolicy] = [], stampede: StampedeProtection = StampedeProtection(), trackAccess: Bool = false,
        _ body: @escaping @Sendable (MemoizedFunction<repeat each A, Output>, repeat each A) throws -> Output
    ) -> MemoizedFunction<repeat each A, Output> {
        let settings = MemoSettings(cache: self, name: name, version: version, expire: expire, tag: tag, typed: typed, validity: validity,
                                    stampede: stampede, trackAccess: trackAccess)
        let core: MemoCore<(repeat each A), Output> = settings.core()
        return MemoizedFunction(core: core, body: body)
    }

    /// An `async` memoized function that calls itself: `body` receives the memoized function.
    ///
    /// ```swift
    /// let paths = cache.memoizeRecursiveAsync(name: "paths") { (paths, x: Int, y: Int) in
    ///     x == 0 || y == 0 ? 1 : try await paths(x - 1, y) + paths(x, y - 1)
    /// }
    /// ```
    ///
    /// (Its own name, not an overload of ``memoizeRecursive(name:version:expire:tag:typed:validity:stampede:trackAccess:_:)``:
    /// in async code, the body's calls of the function would make an overload ambiguous.)
    public func memoizeRecursiveAsync<each A: Encodable, Output: Codable & Sendable>(
        name: String, version: String = "", expire: Expiry? = nil, tag: String? = nil, typed: Bool = false,
        validity: [ValidityPolicy] = [], stampede: StampedeProtection = StampedeProtection(), trackAccess: Bool = false,
        _ body: @escaping @Sendable (AsyncMemoizedFunction<repeat each A, Output>, repeat each A) async throws -> Output
    ) -> AsyncMemoizedFunction<repeat each A, Output> {
        let settings = MemoSettings(cache: self, name: name, version: version, expire: expire, tag: tag, typed: typed, validity: validity,
                                    stampede: stampede, trackAccess: trackAccess)
        let core: MemoCore<(repeat each A), Output> = settings.core()
        return AsyncMemoizedFunction(core: core, body: body)
    }
}
