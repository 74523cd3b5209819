import CMongoC
import Foundation
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

    /// How long `withClient` waits for a free client before giving up with a transient error.
    let clientWait: Duration

    /// Parses the URI and creates a pool of at most `maxClients` clients; a call waits at most
    /// `clientWait` for one of them.
    init(uri text: String, maxClients: Int, appName: String, clientWait: Duration = .seconds(10)) throws(MongoError) {
        self.clientWait = clientWait
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
        // libmongoc waits 5 minutes for a reply by default; a hung server should fail the call
        // sooner (a transient stream error), so the worker retries and the API answers 503.
        if mongoc_uri_get_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, -1) == -1 {
            mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, 30000)
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

    /// Pops a client, runs `body` with it, pushes it back. Waits at most `clientWait` while every
    /// client is out (the store's threads are as many as its clients, so normally never).
    func withClient<T>(_ body: (OpaquePointer) throws(MongoError) -> T) throws(MongoError) -> T {
        let client = try popClient()
        defer { mongoc_client_pool_push(pool, client) }
        return try body(client)
    }

    /// `mongoc_client_pool_pop` blocks forever when every client is out: poll `try_pop` instead,
    /// backing off from 1 ms to 50 ms, until `clientWait` has passed.
    private func popClient() throws(MongoError) -> OpaquePointer {
        let clock = ContinuousClock()
        let deadline = clock.now + clientWait
        var pause = Duration.milliseconds(1)
        while true {
            if let client = mongoc_client_pool_try_pop(pool) { return client }
            guard clock.now + pause < deadline else {
                throw MongoError.busy("every client of the pool stayed in use for \(clientWait)", context: "take a MongoDB client")
            }
            Thread.sleep(forTimeInterval: pause / .seconds(1))
            pause = min(pause * 2, .milliseconds(50))
        }
    }

    /// Runs `body` with the collection `name` of the configured database.
    func withCollection<T>(_ name: String, _ body: (OpaquePointer) throws(MongoError) -> T) throws(MongoError) -> T {
        try withClient { client throws(MongoError) -> T in
            guard let collection = mongoc_client_get_collection(client, databaseName, name) else {
                throw MongoError(domain: MONGOC_ERROR_CLIENT.rawValue, code: 0, message: "libmongoc returned no collection", context: "open collection \(name)")
            }
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
