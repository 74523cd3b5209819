import CMongoC
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix

/// The `events` collection in MongoDB, through libmongoc, with every blocking call on threads
/// of its own (as many as the client pool has clients, so none waits forever for a client).
public final class MongoStore: Sendable {
    /// The collection events are stored in.
    public static let collectionName = "events"
    /// The database from `MONGO_URI`'s path.
    public var databaseName: String { pool.databaseName }

    let pool: MongoClientPool
    private let threads: NIOThreadPool
    let logger: Logger
    private let refusalHook = NIOLockedValueBox<(@Sendable (StoredEvent) -> MongoError?)?>(nil)

    /// Test injection point, consulted as each document is appended to a bulk insert: an error
    /// it returns refuses that document exactly as a libmongoc client-side refusal would.
    /// nx-27017 refuses no document, so tests (`@testable import Shared`) set it; nil in production.
    var refusal: (@Sendable (StoredEvent) -> MongoError?)? {
        get { refusalHook.withLockedValue { $0 } }
        set { refusalHook.withLockedValue { $0 = newValue } }
    }

    /// Connects lazily to `uri`; fails only for a malformed URI.
    public init(uri: String, maxClients: Int = 4, appName: String, logger: Logger) throws(MongoError) {
        self.pool = try MongoClientPool(uri: uri, maxClients: maxClients, appName: appName)
        self.threads = NIOThreadPool(numberOfThreads: max(1, maxClients))
        self.logger = logger
        threads.start()
    }

    /// Stops the threads, waiting at most `limit` for calls in flight (a hung server holds one
    /// for up to its socket timeout); past it the process goes on without them.
    public func shutdown(waitingAtMost limit: Duration = .seconds(2)) async {
        let threads = self.threads
        _ = try? await withDeadline(limit) { try await threads.shutdownGracefully() }
    }

    /// Runs blocking libmongoc work on the store's threads.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws(MongoError) -> T) async throws(MongoError) -> T {
        do {
            return try await threads.runIfActive { try body() }
        } catch let error as MongoError {
            throw error
        } catch {
            throw MongoError(domain: 0, code: 0, message: "store is shut down", context: "run")
        }
    }

    /// Answers when the server answers `ping`.
    public func ping() async throws(MongoError) {
        try await command(#"{"ping": 1}"#, database: "admin", context: "ping")
    }

    /// Creates the indexes `/stats` and dashboards rely on (by time, type, visit, page and
    /// source within a site); safe to call at every start.
    public func ensureIndexes() async throws(MongoError) {
        let command = """
            {"createIndexes": "\(Self.collectionName)", "indexes": [
              {"key": {"site_id": 1, "timestamp": 1}, "name": "site_id_1_timestamp_1"},
              {"key": {"site_id": 1, "event_type": 1, "timestamp": 1}, "name": "site_id_1_event_type_1_timestamp_1"},
              {"key": {"site_id": 1, "session_id": 1, "timestamp": 1}, "name": "site_id_1_session_id_1_timestamp_1"},
              {"key": {"site_id": 1, "path": 1, "timestamp": 1}, "name": "site_id_1_path_1_timestamp_1"},
              {"key": {"site_id": 1, "source": 1, "timestamp": 1}, "name": "site_id_1_source_1_timestamp_1"}
            ]}
            """
        try await self.command(command, database: nil, context: "createIndexes")
        try await self.command(
            #"{"createIndexes": "\#(Self.rollupCollection)", "indexes": [{"key": {"s": 1, "h": 1}, "name": "s_1_h_1"}]}"#,
            database: nil, context: "createIndexes rollups")
    }

    /// Runs a command given as JSON on `database` (the configured one when nil).
    func command(_ json: String, database: String?, context: String) async throws(MongoError) {
        let pool = self.pool
        try await blocking { () throws(MongoError) in
            let command = try BSONDocument(json: json)
            try pool.withClient { client throws(MongoError) in
                try BSONDocument.withReply { reply throws(MongoError) in
                    var error = bson_error_t()
                    guard mongoc_client_command_simple(client, database ?? pool.databaseName, command.pointer, nil, reply, &error) else {
                        throw MongoError(error, context: context, labels: MongoError.labels(inReply: reply))
                    }
                }
            }
        }
    }

    /// Runs an aggregation pipeline (JSON array text) on `events` and returns each result
    /// document as relaxed extended JSON; the server stops it after `maxTime` (`maxTimeMS`).
    public func aggregate(pipelineJSON: String, maxTime: Duration = .seconds(10)) async throws(MongoError) -> [Data] {
        let pool = self.pool
        let maxTimeMS = Int64(maxTime / .milliseconds(1))
        return try await blocking { () throws(MongoError) -> [Data] in
            let pipeline = try BSONDocument(json: #"{"pipeline": "# + pipelineJSON + "}")
            let options = BSONDocument()
            options.append("maxTimeMS", max(1, maxTimeMS))
            return try pool.withCollection(Self.collectionName) { collection throws(MongoError) -> [Data] in
                guard let cursor = mongoc_collection_aggregate(collection, MONGOC_QUERY_NONE, pipeline.pointer, options.pointer, nil) else {
                    throw MongoError(domain: 0, code: 0, message: "no cursor", context: "aggregate")
                }
                defer { mongoc_cursor_destroy(cursor) }
                var results: [Data] = []
                var document: OpaquePointer?
                while mongoc_cursor_next(cursor, &document), let document {
                    results.append(Data(BSONDocument.json(document).utf8))
                }
                var error = bson_error_t()
                var reply: OpaquePointer?
                if mongoc_cursor_error_document(cursor, &error, &reply) {
                    throw MongoError(error, context: "aggregate", labels: reply.map(MongoError.labels(inReply:)) ?? [])
                }
                return results
            }
        }
    }
}
