import CMongoC
import Foundation

/// An event as it is stored: the event and how many identical events it stands for.
public struct StoredEvent: Sendable, Equatable {
    /// The event.
    public var event: Event
    /// 1, or the number of events a throttled summary stands for.
    public var count: Int
    /// True for a throttled summary (stored with `throttled: true`).
    public var throttled: Bool

    /// Wraps an event; `count` defaults to 1.
    public init(_ event: Event, count: Int = 1, throttled: Bool = false) {
        self.event = event
        self.count = count
        self.throttled = throttled
    }
}

/// What an unordered bulk insert did with each document.
public struct InsertReport: Sendable, Equatable {
    /// Documents newly inserted.
    public var inserted: Int
    /// Documents already stored (duplicate `_id`): success, storage is exactly-once.
    public var duplicates: Int
    /// Documents the server refused for good, by their index in the request.
    public var failures: [Int: MongoError]
}

extension MongoStore {
    /// Inserts the events unordered in one bulk write. Duplicate keys count as stored; a
    /// document refused permanently is reported by index; a transient failure throws, and then
    /// the whole call may be retried (what was inserted turns into duplicates).
    public func insert(_ events: [StoredEvent]) async throws(MongoError) -> InsertReport {
        guard !events.isEmpty else { return InsertReport(inserted: 0, duplicates: 0, failures: [:]) }
        let pool = self.pool
        return try await blocking { () throws(MongoError) -> InsertReport in
            try pool.withCollection(Self.collectionName) { collection throws(MongoError) -> InsertReport in
                let options = BSONDocument()
                options.append("ordered", false)
                let bulk = mongoc_collection_create_bulk_operation_with_opts(collection, options.pointer)!
                defer { mongoc_bulk_operation_destroy(bulk) }
                var error = bson_error_t()
                for event in events {
                    let document = Self.document(for: event)
                    guard mongoc_bulk_operation_insert_with_opts(bulk, document.pointer, nil, &error) else {
                        throw MongoError(error, context: "queue insert of \(event.event.eventID)")
                    }
                }
                return try BSONDocument.withReply { reply throws(MongoError) -> InsertReport in
                    let ok = mongoc_bulk_operation_execute(bulk, reply, &error) != 0
                    let outcome = try Self.parse(reply: BSONDocument.json(reply))
                    if ok { return InsertReport(inserted: outcome.nInserted ?? events.count, duplicates: 0, failures: [:]) }
                    let writeErrors = outcome.writeErrors ?? []
                    guard !writeErrors.isEmpty, (outcome.writeConcernErrors ?? []).isEmpty else {
                        throw MongoError(error, context: "bulk insert")
                    }
                    var report = InsertReport(inserted: outcome.nInserted ?? 0, duplicates: 0, failures: [:])
                    for writeError in writeErrors {
                        let failure = MongoError(
                            domain: MONGOC_ERROR_SERVER.rawValue, code: UInt32(clamping: writeError.code),
                            message: writeError.errmsg ?? "", context: "insert")
                        if failure.code == MongoError.duplicateKey {
                            report.duplicates += 1
                        } else if failure.isTransient {
                            throw failure
                        } else {
                            report.failures[writeError.index] = failure
                        }
                    }
                    return report
                }
            }
        }
    }

    /// The BSON document for one event: `_id` is the event id; dates are BSON dates.
    static func document(for stored: StoredEvent) -> BSONDocument {
        let event = stored.event
        let document = BSONDocument()
        document.append("_id", event.eventID)
        document.append("site_id", event.siteID)
        document.append("event_type", event.eventType)
        if let path = event.path { document.append("path", path) }
        if let user = event.userID { document.append("userid", user) }
        document.appendDate("timestamp", millis: event.timestamp)
        document.appendDate("createdAt", millis: event.receivedAt)
        document.append("count", Int32(clamping: stored.count))
        if stored.throttled { document.append("throttled", true) }
        if let props = event.props, !props.isEmpty {
            let nested = BSONDocument()
            for key in props.keys.sorted() {
                switch props[key]! {
                case .string(let value): nested.append(key, value)
                case .int(let value): nested.append(key, value)
                case .double(let value): nested.append(key, value)
                case .bool(let value): nested.append(key, value)
                }
            }
            document.append("props", nested)
        }
        return document
    }

    private struct BulkReply: Decodable {
        struct WriteError: Decodable {
            var index: Int
            var code: Int
            var errmsg: String?
        }
        var nInserted: Int?
        var writeErrors: [WriteError]?
        var writeConcernErrors: [WriteConcernError]?
        struct WriteConcernError: Decodable {
            var code: Int?
        }
    }

    private static func parse(reply json: String) throws(MongoError) -> BulkReply {
        do {
            return try JSONDecoder().decode(BulkReply.self, from: Data(json.utf8))
        } catch {
            throw MongoError(domain: 0, code: 0, message: "cannot read bulk reply: \(json.prefix(200))", context: "bulk insert")
        }
    }
}
