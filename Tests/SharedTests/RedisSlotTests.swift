import Testing

@testable import Shared

/// Hash slots and the cluster key discipline, as Redis Cluster's specification defines them.
struct RedisSlotTests {
    /// The specification's own check value, and slots `CLUSTER KEYSLOT` gives (Redis 7).
    @Test func slotsAreRedisClusterSlots() {
        #expect(RedisSlot.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(RedisSlot.of("foo") == 12182)
        #expect(RedisSlot.of("somekey") == 11058)
        #expect(RedisSlot.of("foo{hash_tag}") == RedisSlot.of("hash_tag"))
        #expect(RedisSlot.of("{user1000}.following") == RedisSlot.of("{user1000}.followers"))
        // An empty tag is no tag; only the first `{…}` counts.
        #expect(RedisSlot.of("foo{}{bar}") == Int(RedisSlot.crc16(Array("foo{}{bar}".utf8)) % 16_384))
        #expect(RedisSlot.of("foo{}{bar}") != RedisSlot.of("bar"))
        #expect(RedisSlot.of("foo{{bar}}zap") == RedisSlot.of("{bar"))
    }

    /// Keys used together by one script share a slot; the client refuses a request that mixes
    /// slots before sending it, as the cluster would.
    @Test func everyScriptsKeysShareOneSlot() throws {
        let keys = QueueKeys(prefix: "et:", cluster: true, shardCount: 12)
        for shard in keys.shards {
            let together = [shard.queue, shard.processing("w1"), shard.workers, shard.fence("w1"), shard.retry, shard.dead]
            #expect(Set(together.map { RedisSlot.of($0) }).count == 1, "shard \(shard.index)")
        }
        let control = [
            keys.queue, keys.processing("w"), keys.fence("w"), keys.throttleIndex, keys.throttleDue, keys.throttleStats, keys.throttleConfig,
            keys.rateLimitConfig, keys.rateLimitIndex, keys.rateLimit("site:s1"),
            keys.throttleState(function: "fixed", stream: "s:page_view", identity: "abc"),
            keys.throttleDeferred(stream: "s:page_view", identity: "abc", day: 20_000), keys.throttleIDs(stream: "s:page_view", identity: "abc"),
        ]
        #expect(Set(control.map { RedisSlot.of($0) }).count == 1, "throttle and rate limits live in the home shard's slot")
        #expect(RedisSlot.of(keys.visits(bucket: 1)) == RedisSlot.of(keys.visits(bucket: 2)))
        let mixed = [RedisCommand("LLEN", keys.shards[1].queue), RedisCommand("LLEN", keys.shards[2].queue)]
        #expect(throws: RedisError.self) { try mixed.slot() }
        #expect(try [RedisCommand("LPUSH", keys.shards[3].queue, "x"), RedisCommand("WAIT", "1", "100")].slot() == RedisSlot.of(keys.shards[3].queue))
        let script = RedisScript("return 1").evalsha(keys: [keys.queue, keys.shards[5].queue], arguments: [])
        #expect(throws: RedisError.self) { try [script].slot() }
    }

    /// Shards spread over the slot space whatever their number, so a cluster whose masters hold
    /// equal ranges gets an equal part; a shard keeps its name when shards are added.
    @Test func shardsSpreadOverTheSlotSpaceAndKeepTheirNames() {
        let twelve = QueueKeys(prefix: "et:", cluster: true, shardCount: 12)
        let thirds = twelve.shards.map { RedisSlot.of($0.queue) * 3 / RedisSlot.count }
        for third in 0..<3 { #expect(thirds.filter { $0 == third }.count >= 3, "third \(third) of the slots: \(thirds)") }
        let sixteen = twelve.with(shardCount: 16)
        #expect(Array(sixteen.shards.prefix(12)) == twelve.shards)
        // One Redis keeps the names of versions before shards.
        let single = QueueKeys(prefix: "et:")
        #expect(single.queue == "et:queue" && single.processing("w") == "et:processing:w" && single.throttleStats == "et:throttle:stats")
        #expect(single.visits(bucket: 7) == "et:visit:7")
    }

    /// `CLUSTER SLOTS` as Redis 7 answers it, an empty host meaning the node asked.
    @Test func aSlotMapIsReadFromClusterSlots() throws {
        func node(_ host: String, _ port: Int64) -> RedisReply { .array([.bulk(Array(host.utf8)), .integer(port), .bulk(Array("id".utf8))]) }
        let reply = RedisReply.array([
            .array([.integer(0), .integer(5460), node("127.0.0.1", 7000), node("127.0.0.1", 7003)]),
            .array([.integer(5461), .integer(10922), node("", 7001)]),
            .array([.integer(10923), .integer(16383), node("127.0.0.1", 7002)]),
        ])
        let map = try #require(ClusterRouter.slotMap(reply, askedAt: RedisEndpoint(host: "10.0.0.9", port: 7001)))
        #expect(map.masters == [
            RedisEndpoint(host: "127.0.0.1", port: 7000), RedisEndpoint(host: "10.0.0.9", port: 7001), RedisEndpoint(host: "127.0.0.1", port: 7002),
        ])
        #expect(map.owners[0] == 0 && map.owners[5461] == 1 && map.owners[16383] == 2)
        #expect(ClusterRouter.slotMap(.array([]), askedAt: RedisEndpoint(host: "h", port: 1)) == nil)
        #expect(ClusterRouter.slotMap(.error("ERR This instance has cluster support disabled"), askedAt: RedisEndpoint(host: "h", port: 1)) == nil)
    }
}
