import CMongoC

/// A stored hour rollup as read back: its generation, the generation it was built at, and
/// the requested part of its data.
struct StoredHour: Sendable {
    /// The hour's start, Unix milliseconds.
    var hour: Int64
    /// Bumped by every write of events the hour depends on.
    var generation: Int64
    /// The generation its data was built from; the data is current only when equal.
    var built: Int64?
    /// True when the hour was too varied to keep (aggregated from raw events each time).
    var tooVaried: Bool
    /// The requested field's bytes, when present.
    var data: ArraySlice<UInt8>?
    /// The generations of the following hours its visits reached when it was built.
    var dependencies: [Int64] = []
    /// A random token naming the build recorded here; its data documents carry the same one.
    var token: Int64?

    /// True when the hour records a build of its present generation with data to read.
    var isBuildCurrent: Bool { built == generation && !tooVaried && token != nil }

    /// True when the stored data can stand in for the raw events.
    var isCurrent: Bool { isBuildCurrent && data != nil }
}

/// The `rollups` collection: one document per (site, hour), `_id` `site|hourMillis`, with `g`
/// (generation, bumped by writers of events), `b` (the generation its data was built from),
/// `t` (totals), `d<i>` (the table of `Property.fixed[i]`), `pp` (custom properties).
extension MongoStore {
    /// Most bytes of data one rollup document holds: well under MongoDB's 16 MiB document limit.
    static let maxRollupBytes = 8 << 20

    /// The collection rollups are kept in: one document per hour with its generations.
    public static let rollupCollection = "rollups"
    /// Their data: one document per hour and `dataGroup`, `k` the token of the build it is of.
    public static let rollupDataCollection = "rollup_data"

    /// An hour's length.
    static let hourMillis: Int64 = 3_600_000

    /// The hour containing `millis`.
    static func hour(of millis: Int64) -> Int64 {
        millis >= 0 ? millis / hourMillis * hourMillis : (millis - hourMillis + 1) / hourMillis * hourMillis
    }

    /// The stored field holding `property`'s table; nil for custom properties (all in `pp`).
    static func rollupField(_ property: Property?) -> String {
        guard let property else { return "t" }
        if case .prop = property { return "pp" }
        return "d" + String(Property.fixed.firstIndex(of: property) ?? 0)
    }

    /// Marks the hour rollups that `events` can change directly as out of date: the hour of
    /// each event, and the hour half an hour later (a visit there may now begin earlier). A
    /// rollup also depends on the later hours its visits reach; it records their generations
    /// when built (`dg`), so a bump there makes it stale too, with no read here. Called after
    /// the events are stored and before they are acknowledged, so a crash in between bumps
    /// again on redelivery: a rollup is never trusted past a change of its events.
    func invalidateRollups(for events: [StoredEvent]) async throws(MongoError) {
        guard !events.isEmpty else { return }
        var hours = Set<RollupKey>()
        for stored in events {
            let event = stored.event
            hours.insert(RollupKey(site: event.siteID, hour: Self.hour(of: event.timestamp)))
            hours.insert(RollupKey(site: event.siteID, hour: Self.hour(of: event.timestamp + VisitTracker.sessionTimeoutMillis)))
        }
        let updates = hours.map { key in
            #"{"q": {"_id": \#(JSONValue.string(key.id).serialized)}, "u": {"$inc": {"g": 1}, "$setOnInsert": {"s": \#(JSONValue.string(key.site).serialized), "h": {"$numberLong": "\#(key.hour)"}}}, "upsert": true}"#
        }
        let reply = try await commandReply(
            #"{"update": "\#(Self.rollupCollection)", "updates": [\#(updates.joined(separator: ","))], "ordered": false}"#,
            context: "invalidate rollups")
        if reply.contains("\"writeErrors\"") {
            // Transient: the batch stays unacknowledged and is stored and bumped again.
            throw MongoError.busy("some rollup generations were not bumped: \(reply.prefix(300))", context: "invalidate rollups")
        }
    }

    /// The hours of `siteID` in `[start, end)` with their generation fields and, when `field`
    /// is given, its bytes for the hours before `dataBefore` (from `rollup_data`; kept only when
    /// of the very build the hour records). Later hours are read for their generations alone:
    /// a window's answer needs them only to check its hours' dependencies.
    func readRollups(
        siteID: String, start: Int64, end: Int64, dataBefore: Int64? = nil, field: String?, maxTime: Duration
    ) async throws(MongoError) -> [StoredHour] {
        var hours = try await find(
            Self.rollupCollection, filterJSON: Self.rollupFilter(siteID: siteID, start: start, end: end), fields: ["h", "g", "b", "x", "dg", "k"],
            maxTime: maxTime
        ) { document -> StoredHour? in
            var hour: Int64?
            var stored = StoredHour(hour: 0, generation: 0, built: nil, tooVaried: false, data: nil)
            for (key, value) in document {
                switch key {
                case "h": hour = value.int
                case "g": stored.generation = value.int ?? 0
                case "b": stored.built = value.int
                case "x": if case .bool(let flag) = value { stored.tooVaried = flag }
                case "k": stored.token = value.int
                case "dg":
                    guard case .document(let list) = value else { break }
                    stored.dependencies = list.map { $0.value.int ?? -1 }
                default: break
                }
            }
            guard let hour else { return nil }
            stored.hour = hour
            return stored
        }
        // Only the data an answer can use: of hours whose build is of their generation.
        let wanted = hours.filter { $0.isBuildCurrent && $0.hour < (dataBefore ?? end) }.map(\.hour)
        guard let field, !wanted.isEmpty else { return hours }
        let data = try await find(
            Self.rollupDataCollection, filterJSON: Self.rollupDataFilter(siteID: siteID, group: Self.dataGroup(of: field), hours: wanted),
            fields: ["h", "k", field], maxTime: maxTime
        ) { document -> (hour: Int64, token: Int64, bytes: ArraySlice<UInt8>)? in
            var hour: Int64?, token: Int64?, bytes: ArraySlice<UInt8>?
            for (key, value) in document {
                switch key {
                case "h": hour = value.int
                case "k": token = value.int
                case field: if case .binary(let data) = value { bytes = data }
                default: break
                }
            }
            guard let hour, let token, let bytes else { return nil }
            return (hour, token, bytes)
        }
        let byHour = Dictionary(data.map { ($0.hour, $0) }, uniquingKeysWith: { first, _ in first })
        for index in hours.indices {
            // Only the data of the very build the hour records (two builds of one generation
            // can differ in what they saw of later hours).
            if let entry = byHour[hours[index].hour], entry.token == hours[index].token { hours[index].data = entry.bytes }
        }
        return hours
    }

    /// Stores `rollup` as built from generation `generation`, only if no writer bumped the
    /// hour since (the filter holds the generation read before the events were). Lost races
    /// store nothing: the next reader builds the hour again.
    func writeRollup(siteID: String, _ rollup: HourRollup?, hour: Int64, generation: Int64, dependencies: [Int64]) async throws(MongoError) {
        let pool = self.pool
        let logger = self.logger
        try await blocking { () throws(MongoError) in
            let id = RollupKey(site: siteID, hour: hour).id
            let selector = BSONDocument()
            selector.append("_id", id)
            selector.append("g", generation)
            let set = BSONDocument()
            set.append("s", siteID)
            set.append("h", hour)
            set.append("b", generation)
            // 52 bits: stores that keep numbers as doubles (nx-27017 in `$set`) keep it exact.
            let token = Int64.random(in: 1...(1 << 52))
            set.append("k", token)
            let list = BSONDocument()
            for (index, value) in dependencies.enumerated() { list.append(String(index), value) }
            set.appendArray("dg", list)
            var fields: [(String, [UInt8])] = []
            if let rollup {
                var totals: [UInt8] = []
                RollupCodec.encode(rollup.totals, into: &totals)
                fields.append(("t", totals))
                for (index, property) in Property.fixed.enumerated() {
                    fields.append(("d" + String(index), RollupCodec.encode(rollup.tables[property] ?? [:])))
                }
                fields.append(("pp", RollupCodec.encode(props: rollup.props)))
            }
            // Long distinct values (2 KB paths, props) can outgrow a document before the value
            // caps do: such an hour is kept as too varied and read from raw events.
            let keep = !fields.isEmpty && fields.reduce(0, { $0 + $1.1.count }) <= Self.maxRollupBytes
            if keep {
                // The data first, in documents apart (a read of one property loads its table, not
                // the hour's); then the build is recorded below, so no reader sees it half written.
                do throws(MongoError) {
                    try Self.writeData(pool: pool, siteID: siteID, hour: hour, token: token, fields: fields)
                } catch {
                    // Lost to a concurrent build (a duplicate key on upsert) or the store failed:
                    // the answer is computed already; the build is not recorded, so the next
                    // read builds the hour again. A failure other than the race is said, or every
                    // read would rebuild the hour from raw events with nothing showing why.
                    if error.code != MongoError.duplicateKey {
                        logger.warning("rollup data not stored; the hour is built again on the next read", metadata: [
                            "site": "\(siteID)", "hour": "\(hour)", "error": "\(error)",
                        ])
                    }
                    return
                }
            }
            set.append("x", !keep)
            let update = BSONDocument()
            update.append("$set", set)
            let options = BSONDocument()
            options.append("upsert", true)
            try pool.withCollection(Self.rollupCollection) { collection throws(MongoError) in
                try BSONDocument.withReply { reply throws(MongoError) in
                    var error = bson_error_t()
                    guard mongoc_collection_update_one(collection, selector.pointer, update.pointer, options.pointer, reply, &error) else {
                        // A writer bumped the hour first: its _id exists with another generation.
                        if error.code == 11000 { return }
                        throw MongoError(error, context: "store a rollup", labels: MongoError.labels(inReply: reply))
                    }
                }
            }
        }
    }

    /// Upserts the `rollup_data` documents of an hour's build (one per `dataGroup`), tagged
    /// with the build's `token`, in one unordered bulk. Blocking: call it inside `blocking`.
    private static func writeData(pool: MongoClientPool, siteID: String, hour: Int64, token: Int64, fields: [(String, [UInt8])]) throws(MongoError) {
        try pool.withCollection(rollupDataCollection) { collection throws(MongoError) in
            let options = BSONDocument()
            options.append("ordered", false)
            guard let bulk = mongoc_collection_create_bulk_operation_with_opts(collection, options.pointer) else {
                throw MongoError(domain: 0, code: 0, message: "libmongoc returned no bulk operation", context: "store rollup data")
            }
            defer { mongoc_bulk_operation_destroy(bulk) }
            let upsert = BSONDocument()
            upsert.append("upsert", true)
            var error = bson_error_t()
            for group in ["t", "p", "o"] {
                let selector = BSONDocument()
                selector.append("_id", dataID(siteID: siteID, hour: hour, group: group))
                let document = BSONDocument()
                document.append("s", siteID)
                document.append("f", group)
                document.append("h", hour)
                document.append("k", token)
                for (field, bytes) in fields where dataGroup(of: field) == group { document.appendBinary(field, bytes) }
                let update = BSONDocument()
                update.append("$set", document)
                // `$set`, not a replacement: nx-27017 gives an upserted replacement a new ObjectId
                // instead of the filter's `_id`, and cannot replace a document holding binary data.
                guard mongoc_bulk_operation_update_one_with_opts(bulk, selector.pointer, update.pointer, upsert.pointer, &error) else {
                    throw MongoError(error, context: "store rollup data")
                }
            }
            try BSONDocument.withReply { reply throws(MongoError) in
                guard mongoc_bulk_operation_execute(bulk, reply, &error) != 0 else {
                    throw MongoError(error, context: "store rollup data", labels: MongoError.labels(inReply: reply))
                }
            }
        }
    }

    /// Which data document holds `field`: `t` the totals (aggregates and time series), `p` the
    /// page table (the usual breakdown, and the largest), `o` every other table: a read loads
    /// what it asks for, not the whole hour (a store reads whole documents, projection or not).
    static func dataGroup(of field: String) -> String {
        switch field {
        case "t": "t"
        case rollupField(.page): "p"
        default: "o"
        }
    }

    /// The data documents of `siteID`'s `group` for `hours`, by `_id`: a point lookup per hour
    /// in any store. (nx-27017 answers a filter on `s`, `f` and a range of `h` by reading every
    /// document of the collection: 9x slower at 1M events, and growing with the other groups.)
    static func rollupDataFilter(siteID: String, group: String, hours: [Int64]) -> String {
        let ids = hours.map { JSONValue.string(dataID(siteID: siteID, hour: $0, group: group)).serialized }
        return #"{"_id": {"$in": [\#(ids.joined(separator: ","))]}}"#
    }

    /// The `_id` of the data document of `siteID`'s `hour` holding `group`.
    static func dataID(siteID: String, hour: Int64, group: String) -> String {
        RollupKey(site: siteID, hour: hour).id + "|" + group
    }

    /// Marks the rollups of `siteID` in `[start, end)` stale (their generation bumped, their
    /// build forgotten), so they are built again from raw events. Generations only ever go
    /// up: deleting the documents would let an older rollup's recorded generation match again.
    public func staleRollups(siteID: String, start: Int64, end: Int64) async throws(MongoError) {
        let filter = Self.rollupFilter(siteID: siteID, start: start, end: end)
        _ = try await commandReply(
            #"{"update": "\#(Self.rollupCollection)", "updates": [{"q": \#(filter), "u": {"$inc": {"g": 1}, "$unset": {"b": ""}}, "multi": true}]}"#,
            context: "mark rollups stale")
    }

    /// The rollups of `siteID` with `h` in `[start, end)`. Hours are kept as Int64 milliseconds,
    /// not dates: nx-27017's `$set` stores dates as strings, which a date range would miss.
    static func rollupFilter(siteID: String, start: Int64, end: Int64) -> String {
        #"{"s": \#(JSONValue.string(siteID).serialized), "h": {"$gte": {"$numberLong": "\#(start)"}, "$lt": {"$numberLong": "\#(end)"}}}"#
    }

    /// Runs a write command given as JSON on the configured database and returns its reply as
    /// JSON. As a write command: the connection string's write concern (`w=majority`) applies,
    /// and a write-concern error fails it.
    func commandReply(_ json: String, context: String) async throws(MongoError) -> String {
        let pool = self.pool
        return try await blocking { () throws(MongoError) -> String in
            let command = try BSONDocument(json: json)
            return try pool.withClient { client throws(MongoError) -> String in
                try BSONDocument.withReply { reply throws(MongoError) -> String in
                    var error = bson_error_t()
                    guard mongoc_client_write_command_with_opts(client, pool.databaseName, command.pointer, nil, reply, &error) else {
                        throw MongoError(error, context: context, labels: MongoError.labels(inReply: reply))
                    }
                    return BSONDocument.json(reply)
                }
            }
        }
    }
}

/// One site's hour, as a rollup `_id`.
struct RollupKey: Hashable, Sendable {
    var site: String
    var hour: Int64
    /// `site|hourMillis`: site ids never hold `|`.
    var id: String { site + "|" + String(hour) }
}

extension BSONDocument {
    /// Appends an array (a document keyed "0", "1", …).
    func appendArray(_ key: String, _ array: BSONDocument) {
        bson_append_array(pointer, key, Int32(key.utf8.count), array.pointer)
    }

    /// Appends generic binary data.
    func appendBinary(_ key: String, _ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { buffer in
            _ = bson_append_binary(pointer, key, Int32(key.utf8.count), BSON_SUBTYPE_BINARY, buffer.baseAddress, UInt32(buffer.count))
        }
    }
}
