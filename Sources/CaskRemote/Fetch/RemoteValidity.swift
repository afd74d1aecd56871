import Cask
import Crypto
import Dispatch
import Foundation
import Synchronization

extension ValidityPolicy {
    /// Valid while the remote objects are the versions the result was computed from: the witness
    /// is each object's ``RemoteWitness`` (ETag, Last-Modified, S3 version id, size and SHA-256 of
    /// the bytes), taken through `remote` just before the function runs; a later call fetches the
    /// objects through `remote` again (a conditional request: 304 when unchanged) and recomputes
    /// when any witness differs. The function itself reads the objects through the same
    /// `remote.fetch`, which then finds them fresh.
    ///
    /// - Parameters:
    ///   - revalidateAfter: A copy checked less than this long ago is taken as it is, without a
    ///     round trip (default: the remote cache's configuration; zero asks on every call).
    ///   - onUnreachable: When the remote cannot give an object: `.serveStale` (default: the
    ///     configuration's) keeps the result computed from the last copy, and the remote cache's
    ///     ``RemoteCache/statistics()`` counts it; `.fail` makes the call throw the ``RemoteError``.
    ///
    /// Checking may wait for the network: call a memoized function with this policy from a thread,
    /// or use the `async` memoize (which checks off the cooperative pool); a synchronous memoized
    /// function called from async code would hold a task thread for the round trip.
    public static func remoteObjects(_ objects: [RemoteObject], through remote: RemoteCache, revalidateAfter: Duration? = nil,
                                     onUnreachable: UnreachablePolicy? = nil) -> ValidityPolicy {
        ValidityPolicy(RemoteObjectsRule(objects: objects, remote: remote, revalidateAfter: revalidateAfter, onUnreachable: onUnreachable))
    }
}

/// The rule behind ``ValidityPolicy/remoteObjects(_:through:revalidateAfter:onUnreachable:)``.
/// Witness: the JSON array of the objects' ``RemoteWitness``es, in the order listed. Its name is
/// `cask.remote-objects:` and the hex SHA-256 of the objects' identities, so no URL (whose query
/// may be a pre-signed signature) is stored in clear.
struct RemoteObjectsRule: ValidityRule {
    let objects: [RemoteObject]
    let remote: RemoteCache
    let revalidateAfter: Duration?
    let onUnreachable: UnreachablePolicy?

    var witnessName: String {
        let identities = objects.map { $0.identity(remote.configuration.s3) }.joined(separator: "\n")
        return "cask.remote-objects:" + SigV4Signer.hex(SHA256.hash(data: Array(identities.utf8)))
    }

    func witness(_ context: ValidityContext) throws -> [UInt8]? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(current()))
    }

    func isValid(witness: [UInt8]?, _ context: ValidityContext) throws -> Bool {
        guard let witness, let stored = try? JSONDecoder().decode([RemoteWitness].self, from: Data(witness)),
              stored.count == objects.count else { return false }
        return try current() == stored
    }

    /// The objects' witnesses now, per `revalidateAfter`; a stale copy's witness is the last one
    /// seen (so its result stays valid), unless `onUnreachable` is `.fail`.
    func current() throws -> [RemoteWitness] {
        let (objects, remote, after, policy) = (objects, remote, revalidateAfter, onUnreachable)
        return try waitForTask {
            var witnesses: [RemoteWitness] = []
            for object in objects {
                witnesses.append(try await remote.fetch(object, revalidateAfter: after, onUnreachable: policy).witness)
            }
            return witnesses
        }
    }
}

/// Runs `work` as a task and blocks the calling thread until it finishes. For synchronous callers
/// only (a rule check): the task runs on the cooperative pool, the HTTP client on its own threads.
func waitForTask<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
    let outcome = TaskOutcome<T>()
    Task.detached {
        let result: Result<T, any Error>
        do { result = .success(try await work()) } catch { result = .failure(error) }
        outcome.value.withLock { $0 = result }
        outcome.done.signal()
    }
    outcome.done.wait()
    return try outcome.value.withLock { $0! }.get()
}

/// Where a task leaves its result for a thread waiting on the semaphore.
private final class TaskOutcome<T: Sendable>: Sendable {
    let value = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
}
