import CMongoC
import Foundation
import Testing

@testable import Shared
@testable import Worker

/// A document refused for what it is fails alone: the rest of its batch is stored and the
/// worker files it in the dead letters instead of retrying the batch forever. Tenants cannot
/// touch each other's events: `_id` is unique per (site, event id).
///
/// nx-27017 refuses no document (real MongoDB refuses `$`-prefixed or dotted keys, documents
/// over 16 MB, validator failures), so the refusal is injected through `MongoStore.refusal`,
/// which the real bulk path consults as each document is appended, exactly where libmongoc
/// refuses a document client-side. Documents over the 16 MB BSON limit are refused by
/// libmongoc itself, for real, when the bulk is sent.
@Suite(.serialized) struct StoreIsolationTests {
    func event(_ id: String, site: String = "iso", path: String = "/") -> StoredEvent {
        StoredEvent(Event(eventID: id, siteID: site, eventType: "page_view", path: path, timestamp: 1_763_916_271_123, receivedAt: 1_763_916_271_123))
    }

    /// What libmongoc reports for a document it will not send (an invalid key, say).
    static let injected = MongoError(
        domain: MONGOC_ERROR_BSON.rawValue, code: MONGOC_ERROR_BSON_INVALID.rawValue,
        message: "injected refusal: invalid document for insert", context: "insert")

    @Test func twoSitesMayUseTheSameEventIDAndEachStoresItOnce() async throws {
        try await TestServers.with { servers in
            let first = try await servers.store.insert([event("same", site: "tenant-a"), event("same", site: "tenant-b")])
            #expect(first == InsertReport(inserted: 2, duplicates: 0, failures: [:]))
            // The same (site, event id) again, from either tenant, is a duplicate: stored once.
            let again = try await servers.store.insert([event("same", site: "tenant-a"), event("same", site: "tenant-b")])
            #expect(again == InsertReport(inserted: 0, duplicates: 2, failures: [:]))
            #expect(try await servers.count(#"{"event_id": "same"}"#) == 2)
            let ids = try await servers.documents(#"{"event_id": "same"}"#).compactMap { $0["_id"] as? String }
            #expect(Set(ids) == ["tenant-a/same", "tenant-b/same"])
        }
    }

    @Test func twoSitesSendingTheSameEventIDThroughTheWorkerBothGetStored() async throws {
        try await TestServers.with { servers in
            try await servers.queue.enqueue([
                payload(site: "tenant-a", id: "shared-id"), payload(site: "tenant-b", id: "shared-id"), payload(site: "tenant-a", id: "shared-id"),
            ])
            try await servers.withWorker {
                try await eventually("all three copies are taken off the queue and two are stored") {
                    let queued = try await servers.queued()
                    let stored = try await servers.count(#"{"event_id": "shared-id"}"#)
                    return queued == 0 && stored == 2
                }
            }
            #expect(try await servers.count(#"{"_id": "tenant-a/shared-id", "site_id": "tenant-a"}"#) == 1)
            #expect(try await servers.count(#"{"_id": "tenant-b/shared-id", "site_id": "tenant-b"}"#) == 1)
        }
    }

    @Test func aRefusedDocumentFailsAloneAndTheRestOfItsBatchIsStored() async throws {
        try await TestServers.with { servers in
            servers.store.refusal = { $0.event.eventID == "poison" ? Self.injected : nil }
            let events = (0..<10).map { event($0 == 6 ? "poison" : "ok-\($0)") }
            let report = try await servers.store.insert(events)
            #expect(report.inserted == 9)
            #expect(Array(report.failures.keys) == [6])
            #expect(report.failures[6]?.isPermanentForDocument == true)
            #expect(try await servers.count() == 9)
            #expect(try await servers.count(#"{"event_id": "poison"}"#) == 0)
        }
    }

    @Test func aDocumentOverTheBSONLimitIsFoundByBisectionAndTheRestIsStored() async throws {
        try await TestServers.with { servers in
            // libmongoc refuses the whole bulk when it meets a document over the server's
            // maxBsonObjectSize (16 MiB): the store must find the one responsible.
            let huge = "/" + String(repeating: "x", count: 17 * 1024 * 1024)
            let events = (0..<8).map { event("big-\($0)", path: $0 == 3 ? huge : "/p\($0)") }
            let report = try await servers.store.insert(events)
            #expect(report.inserted == 7)
            #expect(Array(report.failures.keys) == [3])
            #expect(report.failures[3]?.isPermanentForDocument == true)
            #expect(try await servers.count() == 7)
        }
    }

    @Test func theWorkerDeadLettersTheRefusedEventAndStoresTheRestWithoutLooping() async throws {
        try await TestServers.with { servers in
            let keys = servers.configuration.keys
            servers.store.refusal = { $0.event.eventID == "poison" ? Self.injected : nil }
            let payloads = (0..<20).map { payload(site: "iso-worker", id: $0 == 11 ? "poison" : "good-\($0)") }
            try await servers.queue.enqueue(payloads)
            try await servers.withWorker(batchSize: 50) {
                try await eventually("the batch is acknowledged: 19 stored, the poisoned event dead-lettered") {
                    let processing = try await servers.processingLists()
                    let queued = try await servers.queued()
                    let stored = try await servers.count(#"{"site_id": "iso-worker"}"#)
                    let dead = try await servers.length(keys.dead)
                    return processing.isEmpty && queued == 0 && stored == 19 && dead == 1
                }
            }
            let letters = try await servers.queue.deadLetters()
            let letter = try #require(try letters.first.map { try JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] } ?? nil)
            #expect(letter["event_id"] as? String == "poison")
            #expect((letter["reason"] as? String)?.contains("injected refusal") == true)
            #expect((letter["attempts"] as? NSNumber)?.intValue == 1)
            #expect(try await servers.queue.retryCount() == 0)
            #expect(try await servers.count(#"{"event_id": "poison"}"#) == 0)
        }
    }
}
