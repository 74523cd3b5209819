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
    ///
    /// When the whole bulk is refused for what a document is (libmongoc cannot encode or send
    /// it: too large, invalid BSON), the batch is bisected until the documents responsible are
    /// found: they are reported by index, the rest are stored. Any other failure of the whole
    /// bulk (authentication, an unknown code) is not a document's fault: it is thrown without
    /// bisecting, so a misconfigured server is not hammered and the batch stays in Redis.
    public func insert(_ events: [StoredEvent]) async throws(MongoError) -> InsertReport {
        guard !events.isEmpty else { return InsertReport(inserted: 0, duplicates: 0, failures: [:]) }
        let pool = self.pool
        let refusal = self.refusal
        let report = try await blocking { () throws(MongoError) -> InsertReport in
            try pool.withCollection(Self.collectionName) { collection throws(MongoError) -> InsertReport in
                let bulk = BulkInsert(collection: collection, events: events, refusal: refusal)
                let all = Array(events.indices)
                let first = try bulk.run(all)
                guard let failure = first.failure else { return first.report }
                guard failure.kind == .refusedDocument else { throw failure }
                let isolated = try bulk.isolate(all, failure: failure, first: first.report)
                if isolated.inserted + isolated.duplicates == 0, !isolated.failures.values.contains(where: \.isPermanentForDocument) {
                    throw failure
                }
                return isolated
            }
        }
        // Rollups that these events change are out of date from here on. Duplicates count:
        // an earlier attempt may have stored them and died before this line.
        let stored = events.indices.filter { report.failures[$0] == nil }.map { events[$0] }
        try await invalidateRollups(for: stored)
        return report
    }

    /// The stored `_id` of an event: `site_id/event_id`. Site ids never contain `/`, so the first
    /// `/` separates them and two sites sending the same event id store two documents.
    public static func documentID(siteID: String, eventID: String) -> String {
        siteID + "/" + eventID
    }

    /// The BSON document for one event: `_id` is unique per (site, event id), `event_id` holds
    /// the event id; dates are BSON dates.
    static func document(for stored: StoredEvent) -> BSONDocument {
        let event = stored.event
        let document = BSONDocument()
        document.append("_id", documentID(siteID: event.siteID, eventID: event.eventID))
        document.append("event_id", event.eventID)
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
            for (key, value) in props.sorted(by: { $0.key < $1.key }) {
                switch value {
                case .string(let value): nested.append(key, value)
                case .int(let value): nested.append(key, value)
                case .double(let value): nested.append(key, value)
                case .bool(let value): nested.append(key, value)
                }
            }
            document.append("props", nested)
        }
        if let name = event.name { document.append("name", name) }
        if let visit = event.visit {
            document.append("visitor_id", visit.visitorID)
            document.append("session_id", visit.sessionID)
            let optional: [(String, String?)] = [
                ("hostname", visit.hostname), ("referrer", visit.referrer), ("source", visit.source), ("utm_medium", visit.utmMedium),
                ("utm_source", visit.utmSource), ("utm_campaign", visit.utmCampaign), ("utm_content", visit.utmContent),
                ("utm_term", visit.utmTerm), ("browser", visit.browser), ("browser_version", visit.browserVersion), ("os", visit.os),
                ("os_version", visit.osVersion), ("device", visit.device), ("country", visit.country),
            ]
            for case (let key, let value?) in optional { document.append(key, value) }
        }
        return document
    }
}
