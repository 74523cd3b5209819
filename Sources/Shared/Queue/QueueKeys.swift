/// The Redis key names of the pipeline, all under one configurable prefix (default `et:`): the
/// one place key names are built.
///
/// The queue is split into `shards`, each with its own lists, worker registry and fences (see
/// `QueueShardKeys`). On Redis Cluster (`cluster`) every name carries a hash tag, so that the keys
/// one script or pipeline uses together share a slot: each shard's under its own tag (tags
/// spread over the slot space, so shards spread over the masters), the throttle and rate-limit
/// state under the first shard's (the home shard, whose queue rate-limited pushes and
/// throttled batches go to), the open visits under one tag of their own. On one Redis, the
/// first shard and everything else keep the names of versions before shards.
public struct QueueKeys: Sendable, Equatable {
    /// The prefix every key starts with.
    public let prefix: String
    /// True on Redis Cluster: names carry hash tags.
    public let cluster: Bool
    /// The queue's shards, at least one; the first is the home shard.
    public let shards: [QueueShardKeys]

    /// Keys under `prefix`, the queue in `shardCount` shards (1 to `maxShards`).
    public init(prefix: String = "et:", cluster: Bool = false, shardCount: Int = 1) {
        self.prefix = prefix
        self.cluster = cluster
        self.shards = (0..<min(max(1, shardCount), Self.maxShards)).map { index in
            QueueShardKeys(index: index, base: index == 0 && !cluster ? prefix : prefix + "{" + Self.tag(shard: index, prefix: prefix) + "}:")
        }
    }

    /// The most shards a queue may have (`QUEUE_SHARDS`).
    public static let maxShards = 1024

    /// These keys with the queue in `count` shards.
    public func with(shardCount count: Int) -> QueueKeys { QueueKeys(prefix: prefix, cluster: cluster, shardCount: count) }

    /// The hash tag of shard `index`: the first name `<prefix>q<index>.<n>` whose slot falls in
    /// the slot window set for that shard. The windows follow the van der Corput sequence (0,
    /// 1/2, 1/4, 3/4, …of the slot space), so any first N shards lie evenly spread, and a
    /// cluster whose masters hold equal ranges of slots gets an equal part of them; the tag
    /// depends only on the index and prefix, so adding shards never renames one.
    static func tag(shard index: Int, prefix: String) -> String {
        var fraction = 0.0
        var weight = 0.5
        var rest = index
        while rest > 0 {
            if rest & 1 == 1 { fraction += weight }
            weight /= 2
            rest >>= 1
        }
        let window = 64
        let start = Int(fraction * Double(RedisSlot.count))
        for n in 0... {
            let candidate = prefix + "q" + String(index) + "." + String(n)
            let slot = RedisSlot.of(candidate)
            if slot >= start && slot < start + window { return candidate }
        }
        fatalError("unreachable: CRC16 reaches every slot")
    }

    /// The home shard's keys (the only shard on one Redis unless `QUEUE_SHARDS` says otherwise).
    public var home: QueueShardKeys { shards[0] }
    /// The home shard's queue: where rate-limited pushes and due throttle summaries go.
    public var queue: String { home.queue }
    /// The home shard's retry set.
    public var retry: String { home.retry }
    /// The home shard's dead letters.
    public var dead: String { home.dead }
    /// The home shard's processing list of `workerID`.
    public func processing(_ workerID: String) -> String { home.processing(workerID) }
    /// The home shard's worker registry.
    public var workers: String { home.workers }
    /// The home shard's fence of `workerID`.
    public func fence(_ workerID: String) -> String { home.fence(workerID) }
    /// The heartbeat key of one worker in versions before the registry; no longer written.
    public func heartbeat(_ workerID: String) -> String { prefix + "worker:" + workerID }
    /// How many shards this pipeline's queue has, set by the first process to start; every
    /// later one must agree (`QUEUE_SHARDS`).
    public var shardCount: String { prefix + "shards" }

    /// Names that live with the throttle and rate-limit state (the home shard's slot on a cluster).
    private var control: String { cluster ? home.base : prefix }

    /// Runtime throttle rules: hash of `site|event_type` (or `site|*`) to rule JSON.
    public var throttleConfig: String { control + "throttle:config" }
    /// Pipeline-wide throttle and rate-limit counters: hash of outcome to count.
    public var throttleStats: String { control + "throttle:stats" }
    /// Open deferral records by due time.
    public var throttleDue: String { control + "throttle:due" }
    /// Every tracked throttle key (counters and deferral records) scored by its expiry, Unix ms:
    /// the index `THROTTLE_MAX_KEYS` is checked against.
    public var throttleIndex: String { control + "throttle:keys" }
    /// Every tracked rate-limit key scored by its expiry, Unix ms: the index the rate-limit key cap is checked against.
    public var rateLimitIndex: String { control + "throttle:rate-keys" }
    /// The counter of one identity of a stream under one strategy function (`fixed`, `bucket`, `sliding`).
    public func throttleState(function: String, stream: String, identity: String) -> String {
        control + "throttle:state:" + function + ":" + stream + ":" + identity
    }
    /// The deferral record of one identity of a stream on one UTC day (days since 1970).
    public func throttleDeferred(stream: String, identity: String, day: Int64) -> String {
        control + "throttle:deferred:" + stream + ":" + identity + ":" + String(day)
    }
    /// The last event ids counted for one identity of a stream (a list, newest first): a client's
    /// retry of one of them is dropped instead of counted twice. Lives as long as the counter.
    public func throttleIDs(stream: String, identity: String) -> String {
        control + "throttle:ids:" + stream + ":" + identity
    }
    /// Runtime rate limits per site: hash of site to limits JSON.
    public var rateLimitConfig: String { control + "throttle:limits" }
    /// The visitor-hash salt of one UTC day (days since 1970): random, made by the first worker
    /// that needs it, kept until 48 hours after its day ended.
    public func salt(day: Int64) -> String { (cluster ? prefix + "{" + prefix + "salts}:" : prefix) + "salt:" + String(day) }
    /// The open visits of one 30-minute bucket of event time: hash of `site|visitor` to the
    /// visit's id, first and last event time and its source. Expires; capped by field count.
    public func visits(bucket: Int64) -> String { (cluster ? prefix + "{" + prefix + "visits}:" : prefix) + "visit:" + String(bucket) }
    /// The read counter of one API key (by its hash) in the current rate window; expires with it.
    public func statsKeyRate(_ keyHash: String) -> String { prefix + "stats:rate:" + keyHash }
    /// Set while the throttle candidates of one claimed batch (by digest) are moved to the home
    /// shard, so that moving them again after a lost answer or a crash pushes nothing.
    public func moved(_ digest: String) -> String { control + "throttle:moved:" + digest }
    /// The rate-limit counter of one scope's key (`site:…`, `user:…`, `address:…`).
    public func rateLimit(_ key: String) -> String { control + "throttle:rate:" + key }
    /// A `KEYS`/`SCAN` pattern over the names that live with the throttle state (`throttle:*`);
    /// on a cluster it carries their hash tag, so it reaches their node.
    public func controlPattern(_ suffix: String) -> String { control + suffix }
    /// The pattern matching every day's salt (one hash tag on a cluster).
    public var saltPattern: String { salt(day: 0).dropLast() + "*" }
    /// The SCAN pattern matching every processing list of the home shard.
    public var processingPattern: String { home.processing("*") }
    /// The worker id encoded in a processing list's key, or nil for another key.
    public func workerID(fromProcessingKey key: String) -> String? {
        let head = home.processing("")
        guard key.hasPrefix(head), key.count > head.count else { return nil }
        return String(key.dropFirst(head.count))
    }
}

/// The keys of one shard of the queue: its list, the processing lists claimed from it, the
/// registry of the workers holding them, their fences, retries and dead letters. On a cluster
/// they share one hash tag, so the queue's scripts run on one node.
public struct QueueShardKeys: Sendable, Equatable {
    /// The shard's position, 0 for the home shard.
    public let index: Int
    /// The prefix of every name in the shard (with its hash tag on a cluster).
    let base: String

    /// The list ingest LPUSHes to and workers claim from the right.
    public var queue: String { base + "queue" }
    /// Events whose store failed for an unknown reason, scored by when to try again.
    public var retry: String { base + "retry" }
    /// Dead letters: events that cannot be stored, with their reason.
    public var dead: String { base + "dead" }
    /// What one worker has claimed from this shard and not yet acknowledged.
    public func processing(_ workerID: String) -> String { base + "processing:" + workerID }
    /// The worker registry: sorted set of worker id to heartbeat deadline (Redis time, Unix ms).
    /// A worker whose deadline passed is presumed dead and its processing list is recovered.
    public var workers: String { base + "workers" }
    /// Set when another worker recovered `workerID`'s batch: that worker, if it was only paused
    /// (a zombie), must not acknowledge or throttle the batch it still holds in memory.
    public func fence(_ workerID: String) -> String { base + "fenced:" + workerID }
}
