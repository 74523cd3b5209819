import NIOCore

/// Backoff of reconnects after failed connects (50 ms, doubling per failure, up to 2 s: the
/// ceilings of `FullJitterBackoff`, without the jitter), with
/// the last error, which calls refused meanwhile report. A value kept under its owner's lock:
/// the pool, each cluster node and the pipelined connection each keep one.
struct ConnectBackoff: Sendable {
    /// Failed connects in a row.
    private(set) var failures = 0
    private var nextAttempt = NIODeadline.uptimeNanoseconds(0)
    /// The last connect's error.
    private(set) var lastError = ""

    /// The last error while connects back off at `now`; nil when one may be tried.
    func refusal(at now: NIODeadline) -> String? {
        now < nextAttempt ? lastError : nil
    }

    /// Records a connect that failed at `now`: the next one waits 50 ms, doubling per failure up to 2 s.
    mutating func failed(_ error: RedisError, at now: NIODeadline = .now()) {
        failures += 1
        nextAttempt = now + TimeAmount(Self.schedule.ceiling(forAttempt: failures - 1))
        lastError = "\(error)"
    }

    private static let schedule = FullJitterBackoff(base: .milliseconds(50), cap: .seconds(2))

    /// Records a connect that worked; true when it ended a run of failures (worth a log line).
    mutating func succeeded() -> Bool {
        defer { failures = 0 }
        return failures > 0
    }
}
