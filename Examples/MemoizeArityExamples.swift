import Cask
import Foundation

// Stand-ins for the application code the "Memoize" section's arity snippet calls.

struct AppSettings: Codable, Sendable { var theme: String }
func loadSettings() throws -> AppSettings { AppSettings(theme: "dark") }

struct Route: Codable, Sendable { var km: Double }
func route(_ from: String, _ to: String) throws -> Route { Route(km: Double(from.count + to.count)) }

/// README, "Memoize": any number of arguments, recursion, `typed`.
func readmeMemoizeArity(cache: Cache) async throws {
    // Zero arguments, or several: the key is the arguments in order, so f(1, 2) and f(2, 1) differ.
    let settings = cache.memoize(name: "settings") { () throws -> AppSettings in try loadSettings() }
    let distance = cache.memoize(name: "distance") { (from: String, to: String) in try route(from, to).km }
    let theme = try settings().theme
    let km = try distance("Paris", "Lyon")      // key: j{"fn":"distance","v":"","x":["Paris","Lyon"]}

    // Recursion: the body gets the memoized function itself, so every sub-result is stored too.
    let fib = cache.memoizeRecursive(name: "fib") { fib, n in n < 2 ? n : try fib(n - 1) + fib(n - 2) }
    let f90 = try fib(90)                       // 91 computations, each stored once
    let paths = cache.memoizeRecursiveAsync(name: "grid-paths") { (paths, x: Int, y: Int) in
        x == 0 || y == 0 ? 1 : try await paths(x - 1, y) + paths(x, y - 1)
    }
    let p = try await paths(16, 16)

    // One name for every type a generic function is called with: `typed` keeps describe(1) and
    // describe(1.0) apart (untyped, both are the JSON number 1: one call).
    func describe<T: Codable & Sendable>(_ value: T) throws -> String {
        try cache.memoize(name: "describe", typed: true) { (v: T) in "\(T.self) \(v)" }(value)
    }
    let both = try [describe(1), describe(1.0)]  // ["Int 1", "Double 1.0"]
    keep(theme, km, f90, p, both)
}
