import CMongoC
import Logging

/// Owns a `mongoc_client_pool_t` and the `mongoc_uri_t` it was made from.
///
/// `@unchecked Sendable`: libmongoc documents the client pool as thread-safe; each popped
/// client is used by one thread and pushed back. The pointers are freed once, in `deinit`,
/// after every user has finished (`MongoStore` shuts its threads down first).
final class MongoClientPool: @unchecked Sendable {
    private let pool: OpaquePointer
    private let uri: OpaquePointer
    /// The database named in the URI's path, `events` when it names none.
    let databaseName: String

    /// Parses the URI and creates a pool of at most `maxClients` clients.
    init(uri text: String, maxClients: Int, appName: String) throws(MongoError) {
        MongoLibrary.initializeOnce()
        var error = bson_error_t()
        guard let uri = mongoc_uri_new_with_error(text, &error) else {
            throw MongoError(error, context: "parse MONGO_URI")
        }
        // libmongoc waits 30 s for a server by default; a worker should notice an outage sooner.
        if mongoc_uri_get_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, -1) == -1 {
            mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000)
        }
        if mongoc_uri_get_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, -1) == -1 {
            mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, 2000)
        }
        if let name = mongoc_uri_get_database(uri), name.pointee != 0 {
            databaseName = String(cString: name)
        } else {
            databaseName = "events"
        }
        guard let pool = mongoc_client_pool_new_with_error(uri, &error) else {
            mongoc_uri_destroy(uri)
            throw MongoError(error, context: "create client pool")
        }
        mongoc_client_pool_set_error_api(pool, Int32(MONGOC_ERROR_API_VERSION_2))
        mongoc_client_pool_max_size(pool, UInt32(max(1, maxClients)))
        mongoc_client_pool_set_appname(pool, appName)
        self.pool = pool
        self.uri = uri
    }

    deinit {
        mongoc_client_pool_destroy(pool)
        mongoc_uri_destroy(uri)
    }

    /// Pops a client, runs `body` with it, pushes it back. Blocks while every client is out.
    func withClient<T, E: Error>(_ body: (OpaquePointer) throws(E) -> T) throws(E) -> T {
        let client = mongoc_client_pool_pop(pool)!
        defer { mongoc_client_pool_push(pool, client) }
        return try body(client)
    }

    /// Runs `body` with the `events`-style collection `name` of the configured database.
    func withCollection<T, E: Error>(_ name: String, _ body: (OpaquePointer) throws(E) -> T) throws(E) -> T {
        try withClient { client throws(E) -> T in
            let collection = mongoc_client_get_collection(client, databaseName, name)!
            defer { mongoc_collection_destroy(collection) }
            return try body(collection)
        }
    }
}

/// `mongoc_init` must run once per process, before any other call.
enum MongoLibrary {
    private static let initialized: Bool = {
        mongoc_init()
        // libmongoc prints its own debug chatter by default; route warnings and worse to
        // swift-log and drop the rest (our callers log failures with context).
        mongoc_log_set_handler({ level, domain, message, _ in
            guard level.rawValue <= MONGOC_LOG_LEVEL_WARNING.rawValue else { return }
            let text = message.map { String(cString: $0) } ?? ""
            let origin = domain.map { String(cString: $0) } ?? "mongoc"
            let swiftLevel: Logger.Level = level.rawValue <= MONGOC_LOG_LEVEL_CRITICAL.rawValue ? .error : .warning
            MongoLibrary.logger.log(level: swiftLevel, "\(text)", metadata: ["domain": "\(origin)"])
        }, nil)
        return true
    }()

    /// Where libmongoc's own warnings go.
    static let logger = Logger(label: "libmongoc")

    /// Initialises libmongoc on first use.
    static func initializeOnce() {
        _ = initialized
    }
}
