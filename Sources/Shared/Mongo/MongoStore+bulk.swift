import CMongoC
import Foundation

/// The unordered bulk inserts of one batch, on one store thread: builds each event's document
/// once, runs a bulk over any subset of the batch, and bisects a subset refused as a whole.
struct BulkInsert {
    /// The `events` collection, borrowed for the duration of the call.
    let collection: OpaquePointer
    /// The batch, in request order; indexes in reports are indexes in it.
    let events: [StoredEvent]
    /// The test injection point of `MongoStore.refusal`.
    let refusal: (@Sendable (StoredEvent) -> MongoError?)?
    private let documents: [BSONDocument]

    /// Prepares the documents of `events`.
    init(collection: OpaquePointer, events: [StoredEvent], refusal: (@Sendable (StoredEvent) -> MongoError?)?) {
        self.collection = collection
        self.events = events
        self.refusal = refusal
        self.documents = events.map(MongoStore.document(for:))
    }

    /// What one bulk did: per-document outcomes by batch index, and the error that failed the
    /// bulk as a whole (the fate of its sent documents unknown), if it did.
    struct Outcome {
        var report: InsertReport
        var failure: MongoError?
    }

    /// One unordered bulk insert of the documents at `indices`. A document refused as it is
    /// appended (by libmongoc or the injected `refusal`) is reported and left out; a transient
    /// failure throws; a non-transient failure of the whole bulk comes back in `failure`.
    func run(_ indices: [Int]) throws(MongoError) -> Outcome {
        let options = BSONDocument()
        options.append("ordered", false)
        guard let bulk = mongoc_collection_create_bulk_operation_with_opts(collection, options.pointer) else {
            throw MongoError(domain: 0, code: 0, message: "libmongoc returned no bulk operation", context: "bulk insert")
        }
        defer { mongoc_bulk_operation_destroy(bulk) }
        var report = InsertReport(inserted: 0, duplicates: 0, failures: [:])
        var sent: [Int] = []  // the batch index of each document in the bulk, in bulk order
        var error = bson_error_t()
        for index in indices {
            var refused = refusal?(events[index])
            if refused == nil, !mongoc_bulk_operation_insert_with_opts(bulk, documents[index].pointer, nil, &error) {
                refused = .refusedDocument(error, context: "insert event \(events[index].event.eventID)")
            }
            guard let refused else {
                sent.append(index)
                continue
            }
            if refused.isTransient { throw refused }
            report.failures[index] = refused
        }
        guard !sent.isEmpty else { return Outcome(report: report, failure: nil) }
        return try BSONDocument.withReply { reply throws(MongoError) -> Outcome in
            let ok = mongoc_bulk_operation_execute(bulk, reply, &error) != 0
            let json = BSONDocument.json(reply)
            let outcome = BulkReply.parse(json)
            if ok {
                report.inserted += outcome?.nInserted ?? sent.count
                return Outcome(report: report, failure: nil)
            }
            let whole = MongoError(error, context: "bulk insert", labels: MongoError.labels(inReplyJSON: json))
            if whole.isTransient { throw whole }
            let writeErrors = outcome?.writeErrors ?? []
            guard !writeErrors.isEmpty, (outcome?.writeConcernErrors ?? []).isEmpty,
                writeErrors.allSatisfy({ sent.indices.contains($0.index) })
            else {
                return Outcome(report: report, failure: whole)
            }
            report.inserted += outcome?.nInserted ?? 0
            for writeError in writeErrors {
                let failure = MongoError(
                    domain: MONGOC_ERROR_SERVER.rawValue, code: UInt32(clamping: writeError.code),
                    message: writeError.errmsg ?? "", context: "insert event \(events[sent[writeError.index]].event.eventID)")
                if failure.code == MongoError.duplicateKey {
                    report.duplicates += 1
                } else if failure.isTransient {
                    throw failure
                } else {
                    report.failures[sent[writeError.index]] = failure
                }
            }
            return Outcome(report: report, failure: nil)
        }
    }

    /// Bisects `indices`, whose bulk failed as a whole with `failure` after deciding `first`
    /// (documents refused as they were appended), until each document refused stands alone.
    /// One refused document among n costs about 2·log2(n) bulks.
    func isolate(_ indices: [Int], failure: MongoError, first: InsertReport) throws(MongoError) -> InsertReport {
        var report = first
        let pending = indices.filter { first.failures[$0] == nil }
        guard pending.count > 1 else {
            if let only = pending.first { report.failures[only] = failure }
            return report
        }
        let middle = pending.count / 2
        for half in [Array(pending[..<middle]), Array(pending[middle...])] {
            let outcome = try run(half)
            if let halfFailure = outcome.failure {
                // Refused for a reason that is no document's (permissions revoked meanwhile): stop.
                guard halfFailure.kind == .refusedDocument else { throw halfFailure }
                report.merge(try isolate(half, failure: halfFailure, first: outcome.report))
            } else {
                report.merge(outcome.report)
            }
        }
        return report
    }
}

extension InsertReport {
    /// Adds the outcomes of another part of the same batch.
    mutating func merge(_ other: InsertReport) {
        inserted += other.inserted
        duplicates += other.duplicates
        failures.merge(other.failures) { _, new in new }
    }
}

/// The reply of `mongoc_bulk_operation_execute`, as relaxed extended JSON.
private struct BulkReply: Decodable {
    struct WriteError: Decodable {
        var index: Int
        var code: Int
        var errmsg: String?
    }
    struct WriteConcernError: Decodable {
        var code: Int?
    }
    var nInserted: Int?
    var writeErrors: [WriteError]?
    var writeConcernErrors: [WriteConcernError]?

    /// The reply, or nil when it cannot be read (then nothing is known per document).
    static func parse(_ json: String) -> BulkReply? {
        try? JSONDecoder().decode(BulkReply.self, from: Data(json.utf8))
    }
}
