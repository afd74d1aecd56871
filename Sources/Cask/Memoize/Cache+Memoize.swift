import CaskStore
extension Cache {
    /// Wraps `body` so that its results are stored in this cache, keyed by the function's name,
    /// version and arguments.
    ///
    /// ```swift
    /// let report = cache.memoize(name: "daily-report", validity: [.calendarPeriod(.day, in: zone)]) {
    ///     (region: String) in try buildReport(region)
    /// }
    /// let r = try report("emea")
    /// ```
    ///
    /// - Parameters:
    ///   - name: Names the function in every key; two functions must not share a name.
    ///   - version: Part of every key: bump it when the function's results change meaning, and
    ///     only this function's stored results stop being used. At most 65,535 bytes of UTF-8
    ///     (longer: every call throws `invalid-argument`).
    ///   - expire: Time to live of the stored records (the engine removes them then).
    ///   - tag: The records' tag (for ``evict(tag:)``); default `"memo:<name>"`.
    ///   - typed: Put the argument type in the key, so that `f(1)` and `f(1.0)` are distinct calls
    ///     (by default both encode as the JSON number `1` and share a result).
    ///   - validity: Policies a stored result must all pass to be served; see ``ValidityPolicy``.
    ///   - stampede: Single flight, cross-process lock, stale serving, early recomputation.
    ///   - trackAccess: Count hits and record the last access of each result (one extra small
    ///     write per hit), for ``ValidityPolicy/custom(_:)`` policies that need them.
    ///   - body: The function. Its arguments must be `Encodable`, its result `Codable`.
    public func memoize<Arguments: Encodable, Output: Codable & Sendable>(
        name: String, version: String = "", expire: Expiry? = nil, tag: String? = nil, typed: Bool = false,
        validity: [ValidityPolicy] = [], stampede: StampedeProtection = StampedeProtection(), trackAccess: Bool = false,
        _ body: @escaping @Sendable (Arguments) throws -> Output
    ) -> MemoizedFunction<Arguments, Output> {
        MemoizedFunction(core: makeCore(name: name, version: version, expire: expire, tag: tag, validity: validity, stampede: stampede,
                                        trackAccess: trackAccess, keyer: WholeArgumentsKey<Arguments>(name: name, version: version, typed: typed)),
                         body: body)
    }

    /// ``memoize(name:version:expire:tag:typed:validity:stampede:trackAccess:_:)->MemoizedFunction<Arguments,Output>``
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
    public func memoize<Arguments, KeyPart: Encodable, Output: Codable & Sendable>(
        name: String, version: String = "", expire: Expiry? = nil, tag: String? = nil, typed: Bool = false,
        validity: [ValidityPolicy] = [], stampede: StampedeProtection = StampedeProtection(), trackAccess: Bool = false,
        keyedBy keyPart: @escaping @Sendable (Arguments) -> KeyPart,
        _ body: @escaping @Sendable (Arguments) throws -> Output
    ) -> MemoizedFunction<Arguments, Output> {
        MemoizedFunction(core: makeCore(name: name, version: version, expire: expire, tag: tag, validity: validity, stampede: stampede,
                                        trackAccess: trackAccess, keyer: PartialArgumentsKey(name: name, version: version, typed: typed, part: keyPart)), body: body)
    }

    /// Wraps an `async` function; see ``memoize(name:version:expire:tag:typed:validity:stampede:trackAccess:_:)``.
    public func memoize<Arguments: Encodable, Output: Codable & Sendable>(
        name: String, version: String = "", expire: Expiry? = nil, tag: String? = nil, typed: Bool = false,
        validity: [ValidityPolicy] = [], stampede: StampedeProtection = StampedeProtection(), trackAccess: Bool = false,
        _ body: @escaping @Sendable (Arguments) async throws -> Output
    ) -> AsyncMemoizedFunction<Arguments, Output> {
        AsyncMemoizedFunction(core: makeCore(name: name, version: version, expire: expire, tag: tag, validity: validity, stampede: stampede,
                                             trackAccess: trackAccess, keyer: WholeArgumentsKey<Arguments>(name: name, version: version, typed: typed)),
                              body: body)
    }

    /// Wraps an `async` function with a key made from part of its arguments.
    public func memoize<Arguments, KeyPart: Encodable, Output: Codable & Sendable>(
        name: String, version: String = "", expire: Expiry? = nil, tag: String? = nil, typed: Bool = false,
        validity: [ValidityPolicy] = [], stampede: StampedeProtection = StampedeProtection(), trackAccess: Bool = false,
        keyedBy keyPart: @escaping @Sendable (Arguments) -> KeyPart,
        _ body: @escaping @Sendable (Arguments) async throws -> Output
    ) -> AsyncMemoizedFunction<Arguments, Output> {
        AsyncMemoizedFunction(core: makeCore(name: name, version: version, expire: expire, tag: tag, validity: validity, stampede: stampede,
                                             trackAccess: trackAccess, keyer: PartialArgumentsKey(name: name, version: version, typed: typed, part: keyPart)), body: body)
    }

    func makeCore<Arguments, Output: Codable & Sendable>(
        name: String, version: String, expire: Expiry?, tag: String?, validity: [ValidityPolicy],
        stampede: StampedeProtection, trackAccess: Bool, keyer: some MemoKeying<Arguments>
    ) -> MemoCore<Arguments, Output> {
        MemoCore(cache: self, name: name, version: version, expire: expire, tag: tag, validity: validity,
                 stampede: stampede, trackAccess: trackAccess, keyer: keyer)
    }
}

/// Makes the canonical key of a call from its arguments.
protocol MemoKeying<Arguments>: Sendable {
    associatedtype Arguments
    func key(_ arguments: Arguments) throws -> [UInt8]
}

/// The key part is the arguments themselves.
struct WholeArgumentsKey<Arguments: Encodable>: MemoKeying {
    let name: String
    let version: String
    let typeName: String?

    init(name: String, version: String, typed: Bool) {
        self.name = name
        self.version = version
        typeName = typed ? String(reflecting: Arguments.self) : nil
    }

    func key(_ arguments: Arguments) throws -> [UInt8] {
        try MemoCallKey.bytes(name: name, version: version, type: typeName, part: arguments)
    }
}

/// The key part is what a closure picks out of the arguments.
struct PartialArgumentsKey<Arguments, KeyPart: Encodable>: MemoKeying {
    let name: String
    let version: String
    let typeName: String?
    let part: @Sendable (Arguments) -> KeyPart

    init(name: String, version: String, typed: Bool, part: @escaping @Sendable (Arguments) -> KeyPart) {
        self.name = name
        self.version = version
        typeName = typed ? String(reflecting: KeyPart.self) : nil
        self.part = part
    }

    func key(_ arguments: Arguments) throws -> [UInt8] {
        try MemoCallKey.bytes(name: name, version: version, type: typeName, part: part(arguments))
    }
}
