import CaskStore

/// Makes the canonical key of a call from its arguments (`Arguments` is the tuple of their types).
protocol MemoKeying<Arguments>: Sendable {
    associatedtype Arguments
    func key(_ arguments: Arguments) throws -> [UInt8]
}

/// The number of values in a pack.
func packCount<each V>(_ values: repeat each V) -> Int {
    var n = 0
    for _ in repeat each values { n += 1 }
    return n
}

/// The name of a type in a typed key: Swift's full name (`String(reflecting:)`), with the address
/// it prints for a type declared in a function body (`(unknown context at $55d0…)`, different in
/// every process) written `(local)`, so that the key is the same in every process. (Two such types
/// of one name, in different functions, then have one name.)
func memoTypeName(_ type: Any.Type) -> String {
    let marker = "(unknown context at $"
    var name = String(reflecting: type)[...]
    var out = ""
    while let start = name.firstRange(of: marker) {
        out += name[..<start.lowerBound] + "(local)"
        name = name[start.upperBound...].drop { $0 != ")" }.dropFirst()
    }
    return out + name
}

/// The key part is the arguments themselves: one argument as it is (the layout of every release),
/// any other number as the JSON array of the arguments in order (`[]` for none).
struct WholeArgumentsKey<each A: Encodable>: MemoKeying {
    let writer: MemoKeyWriter

    init(name: String, version: String, typed: Bool) {
        // One type prints as itself (`Swift.Int`), several as a tuple (`(Swift.Int, Swift.String)`).
        writer = MemoKeyWriter(name: name, version: version, typeName: typed ? memoTypeName((repeat each A).self) : nil)
    }

    func key(_ arguments: (repeat each A)) throws -> [UInt8] { try bytes(repeat each arguments) }

    func bytes(_ arguments: repeat each A) throws -> [UInt8] {
        if packCount(repeat each arguments) == 1 {
            for argument in repeat each arguments {
                return try writer.key(argument)
            }
        }
        var values: [any Encodable] = []
        for argument in repeat each arguments { values.append(argument) }
        return try writer.key(list: values)
    }
}

/// The key part is what a closure picks out of the arguments.
struct PartialArgumentsKey<each A, KeyPart: Encodable>: MemoKeying {
    let writer: MemoKeyWriter
    let part: @Sendable (repeat each A) -> KeyPart

    init(name: String, version: String, typed: Bool, part: @escaping @Sendable (repeat each A) -> KeyPart) {
        writer = MemoKeyWriter(name: name, version: version, typeName: typed ? memoTypeName(KeyPart.self) : nil)
        self.part = part
    }

    func key(_ arguments: (repeat each A)) throws -> [UInt8] { try writer.key(part(repeat each arguments)) }
}

/// Several arguments (or none), encoded as a JSON array, each through the canonical encoding.
struct ArgumentList: Encodable {
    let values: [any Encodable]

    init(values: [any Encodable]) { self.values = values }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.unkeyedContainer()
        for value in values { try Self.append(value, to: &c) }
    }

    static func append<V: Encodable>(_ value: V, to c: inout any UnkeyedEncodingContainer) throws {
        try c.encode(Canonical(value))
    }
}

/// What every `memoize` overload takes but the body: makes the function's ``MemoCore``.
struct MemoSettings {
    let cache: Cache
    let name: String
    let version: String
    let expire: Expiry?
    let tag: String?
    let typed: Bool
    let validity: [ValidityPolicy]
    let stampede: StampedeProtection
    let trackAccess: Bool

    /// The core of a function keyed by all its arguments.
    func core<each A: Encodable, Output: Codable & Sendable>() -> MemoCore<(repeat each A), Output> {
        core(keyer: WholeArgumentsKey<repeat each A>(name: name, version: version, typed: typed))
    }

    /// The core of a function keyed by what `part` picks out of its arguments.
    func core<each A, KeyPart: Encodable, Output: Codable & Sendable>(
        keyedBy part: @escaping @Sendable (repeat each A) -> KeyPart
    ) -> MemoCore<(repeat each A), Output> {
        core(keyer: PartialArgumentsKey<repeat each A, KeyPart>(name: name, version: version, typed: typed, part: part))
    }

    func core<Arguments, Output: Codable & Sendable>(keyer: some MemoKeying<Arguments>) -> MemoCore<Arguments, Output> {
        MemoCore(cache: cache, name: name, version: version, expire: expire, tag: tag, validity: validity,
                 stampede: stampede, trackAccess: trackAccess, keyer: keyer)
    }
}
