// A child process for the shared-tier tests: one "machine" of a test — its own process, a cache
// directory it opens itself, a shared tier on the Redis server (or cluster) the test started.
//
//   cask-remote-worker memo <dir> <redis-url> <log> <x>   calls the memoized function "slow-square"
//       (its body appends "<pid>" to <log> and sleeps 300 ms) with x through a SharedCache on the
//       URL's tier; prints "result <x*x>"
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Cask
import CaskRemote

func fail(_ message: String) -> Never {
    let text = Array("cask-remote-worker: \(message)\n".utf8)
    _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(2)
}

let args = CommandLine.arguments
guard args.count >= 2 else { fail("usage: cask-remote-worker memo <dir> <redis-url> <log> <x>") }
switch args[1] {
case "memo":
    guard args.count == 6, let x = Int(args[5]) else { fail("usage: memo <dir> <redis-url> <log> <x>") }
    let log = args[4]
    do {
        let shared = SharedCache(cache: try Cache(directory: args[2]), tier: try RedisTier(url: args[3], timeout: .milliseconds(500)))
        let square = shared.cache.memoize(name: "slow-square") { (x: Int) -> Int in
            let fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0o600)
            guard fd >= 0 else { fail("cannot open \(log)") }
            let line = Array("\(getpid())\n".utf8)
            _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            usleep(300_000)
            return x * x
        }
        let result = try square(x)
        print("result \(result)")
        withExtendedLifetime(shared) {}
    } catch {
        fail("\(error)")
    }
default:
    fail("unknown command \(args[1])")
}
