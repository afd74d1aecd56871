import CaskTestSupport
import Foundation
import Synchronization
import CaskStore
import Testing
@testable import Cask

/// A flag shared by a test and the tasks it starts.
final class Flag: Sendable {
    private let v = Locked(false)
    func set(_ value: Bool) { v.withLock { $0 = value } }
    var value: Bool { v.withLock { $0 } }
    func wait(timeout: Double = 600) async {
        let end = Date().addingTimeInterval(timeout)
        while !value && Date() < end { try? await Task.sleep(for: .milliseconds(1)) }
    }
}

@Suite("RLock ownership")
struct RLockTests {
    /// A task created inside the critical section that runs after it must take the lock like any
    /// other caller: here it must wait while another handle holds it.
    func childOutlivingTheSection(async: Bool) async throws {
        let f = try makeCache()
        let lock = try RLock(cache: f.cache, name: "tree")
        let go = Flag(), otherHolds = Flag()
        let child = Locked<Task<Bool, any Error>?>(nil)
        let start = {
            child.withLock { c in
                c = Task {
                    await go.wait()
                    return try await lock.withLock { () async in otherHolds.value }
                }
            }
        }
        if async {
            try await lock.withLock { () async in start() }
        } else {
            try lock.withLock { start() }
        }
        #expect(!lock.isHeldByCurrentOwner)
        let other = try LockFileHandle(path: lock.path)
        try other.lock()
        otherHolds.set(true)
        go.set(true)
        try await Task.sleep(for: .milliseconds(200))
        otherHolds.set(false)
        other.unlock()
        let sawOtherHolder = try await child.withLock { $0 }!.value
        #expect(!sawOtherHolder, "the child entered while another owner held the lock")
    }

    @Test func childOfAnAsyncSectionDoesNotInheritOwnership() async throws {
        try await childOutlivingTheSection(async: true)
    }

    @Test func childOfASyncSectionDoesNotInheritOwnership() async throws {
        try await childOutlivingTheSection(async: false)
    }

    /// Re-entry still works: nested sync, nested async, sync inside async.
    @Test func ownerMayReenter() async throws {
        let f = try makeCache()
        let lock = try RLock(cache: f.cache, name: "tree")
        let n = try lock.withLock { try lock.withLock { lock.isHeldByCurrentOwner ? 1 : 0 } }
        #expect(n == 1)
        let m = try await lock.withLock { () async throws -> Int in
            let inner = try await lock.withLock { () async in 2 }
            return try lock.withLock { inner + (lock.isHeldByCurrentOwner ? 1 : 0) }
        }
        #expect(m == 3)
        #expect(!lock.isHeldByCurrentOwner)
    }
}
