/// The one-off upgrade step from versions that kept a heartbeat key per worker
/// (`et:worker:<id>`) instead of the registry: their processing lists have no registry entry,
/// so the registry-driven recovery never sees them.
extension ReliableQueue {
    /// Moves back to the queue every processing list whose worker is neither registered and
    /// alive nor holding an old-style heartbeat key; returns (lists moved, events moved, lists
    /// left because their owner is alive). Scans the keyspace once: an operator's command
    /// (`Worker recover --legacy`), never run by the workers themselves.
    public func recoverLegacyLists() async throws(RedisError) -> (lists: Int, events: Int, alive: Int) {
        // SCAN sees one node of a cluster; and no version before the registry ran on one.
        guard !redis.isCluster else { throw .command("ERR recover --legacy is for one Redis: no version before the worker registry ran on a cluster") }
        var cursor = "0"
        var (lists, events, alive) = (0, 0, 0)
        repeat {
            let reply = try await redis.send(RedisCommand("SCAN", cursor, "MATCH", keys.processingPattern, "COUNT", "1000")).orThrow()
            guard let parts = reply.elements, parts.count == 2, let next = parts[0].string, let found = parts[1].elements else {
                throw .unexpectedReply("SCAN answered \(reply)")
            }
            cursor = next
            for key in found.compactMap(\.string) {
                guard let worker = keys.workerID(fromProcessingKey: key) else { continue }
                if try await redis.send(RedisCommand("EXISTS", keys.heartbeat(worker))).orThrow().int == 1 {
                    alive += 1  // an old-version worker still beating: its batch is its own
                    continue
                }
                let moved = try await redis.run(
                    QueueScripts.recover, keys: [key, keys.workers, keys.queue, keys.fence(worker)], arguments: [Array(worker.utf8)])
                guard let count = moved.int else { continue }
                if count < 0 {
                    alive += 1
                } else if count > 0 {
                    lists += 1
                    events += Int(count)
                }
            }
        } while cursor != "0"
        return (lists, events, alive)
    }
}
