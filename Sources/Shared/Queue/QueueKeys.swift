/// The Redis key names of the pipeline, all under one configurable prefix (default `et:`).
public struct QueueKeys: Sendable, Equatable {
    /// The prefix every key starts with.
    public let prefix: String

    /// Keys under `prefix`.
    public init(prefix: String = "et:") {
        self.prefix = prefix
    }

    /// The list ingest LPUSHes to and workers claim from the right.
    public var queue: String { prefix + "queue" }
    /// Events whose store failed for an unknown reason, scored by when to try again.
    public var retry: String { prefix + "retry" }
    /// Dead letters: events that cannot be stored, with their reason.
    public var dead: String { prefix + "dead" }
    /// What one worker has claimed and not yet acknowledged.
    public func processing(_ workerID: String) -> String { prefix + "processing:" + workerID }
    /// The heartbeat key of one worker in versions before the registry; no longer written.
    public func heartbeat(_ workerID: String) -> String { prefix + "worker:" + workerID }
    /// The worker registry: sorted set of worker id to heartbeat deadline (Redis time, Unix ms).
    /// A worker whose deadline passed is presumed dead and its processing list is recovered.
    public var workers: String { prefix + "workers" }
    /// Runtime throttle rules: hash of `site|event_type` (or `site|*`) to rule JSON.
    public var throttleConfig: String { prefix + "throttle:config" }
    /// Pipeline-wide throttle and rate-limit counters: hash of outcome to count.
    public var throttleStats: String { prefix + "throttle:stats" }
    /// Open deferral records by due time.
    public var throttleDue: String { prefix + "throttle:due" }
    /// Every tracked throttle key (counters and deferral records) scored by its expiry, Unix ms:
    /// the index `THROTTLE_MAX_KEYS` is checked against.
    public var throttleIndex: String { prefix + "throttle:keys" }
    /// Every tracked rate-limit key scored by its expiry, Unix ms: the index the rate-limit key cap is checked against.
    public var rateLimitIndex: String { prefix + "throttle:rate-keys" }
    /// The counter of one identity of a stream under one strategy function (`fixed`, `bucket`, `sliding`).
    public func throttleState(function: String, stream: String, identity: String) -> String {
        prefix + "throttle:state:" + function + ":" + stream + ":" + identity
    }
    /// The deferral record of one identity of a stream on one UTC day (days since 1970).
    public func throttleDeferred(stream: String, identity: String, day: Int64) -> String {
        prefix + "throttle:deferred:" + stream + ":" + identity + ":" + String(day)
    }
    /// The last event ids counted for one identity of a stream (a list, newest first): a client's
    /// retry of one of them is dropped instead of counted twice. Lives as long as the counter.
    public func throttleIDs(stream: String, identity: String) -> String {
        prefix + "throttle:ids:" + stream + ":" + identity
    }
    /// Runtime rate limits per site: hash of site to limits JSON.
    public var rateLimitConfig: String { prefix + "throttle:limits" }
    /// The visitor-hash salt of one UTC day (days since 1970): random, made by the first worker
    /// that needs it, kept until 48 hours after its day ended.
    public func salt(day: Int64) -> String { prefix + "salt:" + String(day) }
    /// The open visits of one 30-minute bucket of event time: hash of `site|visitor` to the
    /// visit's id, first and last event time and its source. Expires; capped by field count.
    public func visits(bucket: Int64) -> String { prefix + "visit:" + String(bucket) }
    /// Set when another worker recovered `workerID`'s batch: that worker, if it was only paused
    /// (a zombie), must not acknowledge or throttle the batch it still holds in memory.
    public func fence(_ workerID: String) -> String { prefix + "fenced:" + workerID }
    /// The read counter of one API key (by its hash) in the current rate window; expires with it.
    public func statsKeyRate(_ keyHash: String) -> String { prefix + "stats:rate:" + keyHash }
    /// The SCAN pattern matching every processing list.
    public var processingPattern: String { prefix + "processing:*" }
    /// The worker id encoded in a processing list's key, or nil for another key.
    public func workerID(fromProcessingKey key: String) -> String? {
        let head = prefix + "processing:"
        guard key.hasPrefix(head), key.count > head.count else { return nil }
        return String(key.dropFirst(head.count))
    }
}
