import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Routes commands over a Redis Cluster as its specification asks of a client: a slot map from
/// `CLUSTER SLOTS`, each request sent to the master of its keys' slot over a connection pool of
/// that node, `MOVED` (learn the new owner, refetch the map) and `ASK` (one `ASKING` redirect
/// during a migration) followed, and the map fetched again when a node fails.
///
/// Blocking: used only from `RedisClient`'s own threads, so each node's connections never
/// outnumber those threads. Every request names keys of one slot (`CROSSSLOT` otherwise): the
/// key builder gives keys used together one hash tag.
final class ClusterRouter: Sendable {
    private let configuration: RedisConfiguration
    private let seeds: [RedisEndpoint]
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    /// One node's idle connections and connect backoff: a dead master backs off alone.
    private struct Node {
        var idle: [RedisConnection] = []
        var backoff = ConnectBackoff()
    }

    private struct State {
        /// Per slot, an index into `masters`; -1 when no master serves it. Empty until fetched.
        var owners: [Int16] = []
        var masters: [RedisEndpoint] = []
        var nodes: [RedisEndpoint: Node] = [:]
        var refreshNeeded = true
        var refreshing = false
        var lastRefresh = NIODeadline.uptimeNanoseconds(0)
        var isShutdown = false
    }

    /// Most redirects one request follows before its last answer is returned as it is.
    static let maxRedirects = 5
    /// Least time between two fetches of the slot map after failures, so a failover under way
    /// is not met with a fetch per request.
    static let refreshSpacing: TimeAmount = .milliseconds(100)

    /// A router over the cluster reached through `cluster`'s nodes.
    init(_ cluster: RedisClusterConfiguration, configuration: RedisConfiguration, logger: Logger) {
        self.configuration = configuration
        self.seeds = cluster.nodes
        self.logger = logger
    }

    /// Drops idle connections; later requests fail with `.shutdown`.
    func shutdown() {
        state.withLockedValue { state in
            state.isShutdown = true
            state.nodes = [:]
        }
    }

    /// The masters in the current slot map, fetching it first if there is none.
    func masters() throws(RedisError) -> [RedisEndpoint] {
        try refreshIfNeeded()
        return state.withLockedValue { $0.masters }
    }

    /// The master serving `slot`, fetching the map first if there is none.
    func master(ofSlot slot: Int) throws(RedisError) -> RedisEndpoint {
        try refreshIfNeeded()
        return try owner(of: slot)
    }

    /// Sends `commands` to the master of their slot (any master when keyless) and follows
    /// redirects. A command answered `MOVED` or `ASK` did not run, so it alone is sent again
    /// to the node named, with the keyless commands that followed it (its `WAIT`).
    func run(_ commands: [RedisCommand], extraTimeout: Duration) throws(RedisError) -> [RedisReply] {
        let slot = try commands.slot()
        try refreshIfNeeded()
        var node = try owner(of: slot)
        var replies = try execute(commands, on: node, extraTimeout: extraTimeout)
        for _ in 0..<Self.maxRedirects {
            var groups: [Redirect: [Int]] = [:]
            for (index, reply) in replies.enumerated() {
                if let redirect = Redirect(reply, from: node) { groups[redirect, default: []].append(index) }
            }
            if groups.isEmpty { return replies }
            for (redirect, indices) in groups {
                if redirect.permanent { learn(slot: redirect.slot, owner: redirect.endpoint) }
                var resend: [RedisCommand] = []
                var origin: [Int?] = []
                for index in indices {
                    if !redirect.permanent {
                        resend.append(RedisCommand("ASKING"))
                        origin.append(nil)
                    }
                    resend.append(commands[index])
                    origin.append(index)
                    var next = index + 1
                    while next < commands.count, commands[next].keys.isEmpty {
                        resend.append(commands[next])
                        origin.append(next)
                        next += 1
                    }
                }
                node = redirect.endpoint
                let answers = try execute(resend, on: redirect.endpoint, extraTimeout: extraTimeout)
                for (answer, index) in zip(answers, origin) {
                    if let index { replies[index] = answer }
                }
            }
        }
        return replies
    }

    /// `MOVED slot host:port` (the slot has a new master) or `ASK slot host:port` (this key is
    /// being migrated there: ask once, with `ASKING`). Redis writes an IPv6 host without
    /// brackets, and no host at all when it does not know its own (then: the node that answered).
    private struct Redirect: Hashable {
        var permanent: Bool
        var slot: Int
        var endpoint: RedisEndpoint

        init?(_ reply: RedisReply, from node: RedisEndpoint) {
            guard case .error(let message) = reply else { return nil }
            let parts = message.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == "MOVED" || parts[0] == "ASK", let slot = Int(parts[1]), (0..<RedisSlot.count).contains(slot),
                  let colon = parts[2].lastIndex(of: ":"), let port = Int(parts[2][parts[2].index(after: colon)...]), (1...65_535).contains(port)
            else { return nil }
            let host = parts[2][..<colon]
            self.permanent = parts[0] == "MOVED"
            self.slot = slot
            self.endpoint = RedisEndpoint(host: host.isEmpty ? node.host : String(host), port: port)
        }
    }

    private func owner(of slot: Int?) throws(RedisError) -> RedisEndpoint {
        let found: RedisEndpoint? = state.withLockedValue { state in
            guard let slot else { return state.masters.first }
            guard state.owners.indices.contains(slot) else { return nil }
            let index = Int(state.owners[slot])
            return state.masters.indices.contains(index) ? state.masters[index] : nil
        }
        guard let found else {
            state.withLockedValue { $0.refreshNeeded = true }
            throw .unavailable("no master serves slot \(slot.map(String.init) ?? "any") in the cluster's map (a failover under way?)")
        }
        return found
    }

    /// Records a `MOVED` answer at once, and asks for the whole map to be fetched again.
    private func learn(slot: Int, owner: RedisEndpoint) {
        state.withLockedValue { state in
            guard state.owners.indices.contains(slot) else { return }
            if let index = state.masters.firstIndex(of: owner) {
                state.owners[slot] = Int16(index)
            } else if state.masters.count < Int(Int16.max) {
                state.masters.append(owner)
                state.owners[slot] = Int16(state.masters.count - 1)
            }
            state.refreshNeeded = true
        }
    }

    /// Runs the commands on `endpoint`; a failure after sending drops the connection and asks
    /// for a new map, and is reported as it is (the commands may have run).
    private func execute(_ commands: [RedisCommand], on endpoint: RedisEndpoint, extraTimeout: Duration) throws(RedisError) -> [RedisReply] {
        let connection = try checkout(endpoint)
        do {
            let replies = try connection.pipeline(commands, extraTimeout: extraTimeout)
            if replies.contains(where: { $0.saysTopologyChanged }) { state.withLockedValue { $0.refreshNeeded = true } }
            checkin(connection, to: endpoint)
            return replies
        } catch {
            logger.debug("redis cluster node failed after the command was sent; not resending", metadata: ["node": "\(endpoint)", "error": "\(error)"])
            // A node that times out (hung, or cut off) backs off like one that refuses connects:
            // every request for its slots would otherwise wait a whole read timeout.
            nodeFailed(endpoint, error)
            throw error
        }
    }

    private func checkout(_ endpoint: RedisEndpoint) throws(RedisError) -> RedisConnection {
        let now = NIODeadline.now()
        while true {
            let idle: Result<RedisConnection?, RedisError> = state.withLockedValue { state in
                if state.isShutdown { return .failure(.shutdown) }
                if let connection = state.nodes[endpoint]?.idle.popLast() { return .success(connection) }
                if let refusal = state.nodes[endpoint]?.backoff.refusal(at: now) { return .failure(.unavailable("\(endpoint): \(refusal)")) }
                return .success(nil)
            }
            guard let connection = try idle.get() else { break }
            if connection.isUsableForNextCommand { return connection }
        }
        do throws(RedisError) {
            let connection = try RedisConnection(configuration: configuration, endpoint: endpoint)
            if state.withLockedValue({ $0.nodes[endpoint, default: Node()].backoff.succeeded() }) {
                logger.info("redis cluster node reconnected", metadata: ["node": "\(endpoint)"])
            }
            return connection
        } catch {
            nodeFailed(endpoint, error)
            logger.warning("redis cluster node connect failed", metadata: ["node": "\(endpoint)", "error": "\(error)"])
            throw error
        }
    }

    /// Drops `endpoint`'s idle connections, backs its connects off (50 ms doubling to 2 s) and
    /// asks for a new slot map.
    private func nodeFailed(_ endpoint: RedisEndpoint, _ error: RedisError) {
        state.withLockedValue { state in
            var node = state.nodes[endpoint] ?? Node()
            node.idle = []
            node.backoff.failed(error)
            state.nodes[endpoint] = node
            state.refreshNeeded = true
        }
    }

    private func checkin(_ connection: RedisConnection, to endpoint: RedisEndpoint) {
        guard !connection.isBroken else { return }
        state.withLockedValue { state in
            if !state.isShutdown, state.masters.contains(endpoint) { state.nodes[endpoint, default: Node()].idle.append(connection) }
        }
    }

    /// Fetches the slot map when there is none, or when a failure or redirect asked for it (at
    /// most once per `refreshSpacing`). One thread fetches; the others go on with the old map,
    /// or fail fast as unavailable when there is none yet.
    private func refreshIfNeeded() throws(RedisError) {
        let now = NIODeadline.now()
        let plan: (ask: Bool, candidates: [RedisEndpoint], haveMap: Bool) = state.withLockedValue { state in
            let haveMap = !state.owners.isEmpty
            let due = !haveMap || (state.refreshNeeded && now - state.lastRefresh >= Self.refreshSpacing)
            guard due, !state.refreshing, !state.isShutdown else { return (false, [], haveMap) }
            state.refreshing = true
            state.lastRefresh = now
            // Known masters first (they answer fastest), then the configured seeds; nodes whose
            // connects fail lately last, so a dead master does not cost every fetch a timeout.
            let all = state.masters + seeds.filter { !state.masters.contains($0) }
            let failing = Set(state.nodes.filter { $0.value.backoff.failures > 0 }.keys)
            return (true, all.filter { !failing.contains($0) } + all.filter { failing.contains($0) }, haveMap)
        }
        guard plan.ask else {
            if plan.haveMap { return }
            // Another thread fetches the first map: wait for it (these are the client's own
            // threads), at most as long as a fetch from one node may take.
            let deadline = NIODeadline.now() + .nanoseconds(Int64((configuration.connectTimeout + configuration.readTimeout).totalNanoseconds))
            while NIODeadline.now() < deadline {
                let state = state.withLockedValue { (map: !$0.owners.isEmpty, fetching: $0.refreshing) }
                if state.map { return }
                if !state.fetching { return try refreshIfNeeded() }
                usleep(2_000)
            }
            throw .unavailable("the cluster's slot map is still being fetched")
        }
        defer { state.withLockedValue { $0.refreshing = false } }
        var failures: [String] = []
        for node in plan.candidates {
            do {
                let connection = try RedisConnection(configuration: configuration, endpoint: node)
                let reply = try connection.pipeline([RedisCommand("CLUSTER", "SLOTS")])
                guard let map = reply.first.flatMap({ Self.slotMap($0, askedAt: node) }) else {
                    failures.append("\(node) answered CLUSTER SLOTS with \(reply.first.map { "\($0)" } ?? "nothing")")
                    continue
                }
                install(map)
                return
            } catch {
                failures.append("\(node): \(error)")
            }
        }
        if !plan.haveMap {
            throw .connectFailed("no cluster node gave its slot map (check REDIS_CLUSTER_NODES): " + failures.joined(separator: "; "))
        }
        logger.warning("redis cluster slot map could not be fetched again; keeping the old one", metadata: ["errors": "\(failures.joined(separator: "; "))"])
    }

    private func install(_ map: (owners: [Int16], masters: [RedisEndpoint])) {
        let changed = state.withLockedValue { state -> Bool in
            let changed = state.masters != map.masters || state.owners != map.owners
            state.owners = map.owners
            state.masters = map.masters
            state.refreshNeeded = false
            // Connections to nodes that no longer serve slots are dropped; backoff state goes with them.
            state.nodes = state.nodes.filter { map.masters.contains($0.key) }
            return changed
        }
        if changed {
            let served = map.owners.filter { $0 >= 0 }.count
            logger.info("redis cluster slot map", metadata: ["masters": "\(map.masters.map(\.description).joined(separator: ","))", "slots_served": "\(served)"])
        }
    }

    /// Parses a `CLUSTER SLOTS` answer (`[[start, end, [host, port, id, …], replicas…], …]`); an
    /// empty host means the node asked. Nil for an answer without a single range.
    static func slotMap(_ reply: RedisReply, askedAt asked: RedisEndpoint) -> (owners: [Int16], masters: [RedisEndpoint])? {
        guard let ranges = reply.elements, !ranges.isEmpty else { return nil }
        var owners = [Int16](repeating: -1, count: RedisSlot.count)
        var masters: [RedisEndpoint] = []
        for range in ranges {
            guard let parts = range.elements, parts.count >= 3, let start = parts[0].int, let end = parts[1].int,
                  0 <= start, start <= end, end < RedisSlot.count,
                  let node = parts[2].elements, node.count >= 2, let host = node[0].string, let port = node[1].int,
                  (1...65_535).contains(port), host != "?"
            else { continue }
            let endpoint = RedisEndpoint(host: host.isEmpty ? asked.host : host, port: Int(port))
            let index: Int
            if let known = masters.firstIndex(of: endpoint) {
                index = known
            } else {
                masters.append(endpoint)
                index = masters.count - 1
            }
            for slot in Int(start)...Int(end) { owners[slot] = Int16(index) }
        }
        return masters.isEmpty ? nil : (owners, masters)
    }
}

extension RedisReply {
    /// `CLUSTERDOWN` (the cluster is failing over or lost a master) or a redirect: the map may have changed.
    var saysTopologyChanged: Bool {
        if case .error(let message) = self { return ["CLUSTERDOWN", "MOVED", "ASK", "TRYAGAIN"].contains { message.hasPrefix($0) } }
        return false
    }
}
