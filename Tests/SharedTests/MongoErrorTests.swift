import CMongoC
import Testing

@testable import Shared

/// How a MongoDB failure is handled: transient (the batch is retried), refused for what the
/// document is (the event goes to the dead letters), or other (neither).
struct MongoErrorTests {
    func server(_ code: UInt32, labels: [String] = []) -> MongoError {
        MongoError(domain: MONGOC_ERROR_SERVER.rawValue, code: code, message: "m", context: "insert", labels: labels)
    }

    func libmongoc(_ domain: mongoc_error_domain_t, _ code: UInt32) -> MongoError {
        MongoError(domain: domain.rawValue, code: code, message: "m", context: "insert")
    }

    @Test(arguments: [
        6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,  // retryable-writes spec
        10058, 134, 50, 64, 112, 63, 150, 13388, 133, 216, 11601, 24, 46, 202, 402, 14031,
    ] as [UInt32])
    func serverCodesThatMeanNotNowAreTransient(code: UInt32) {
        #expect(server(code).kind == .transient)
        #expect(server(code).isTransient)
        #expect(!server(code).isPermanentForDocument)
    }

    @Test(arguments: [2, 9, 14, 22, 52, 53, 55, 56, 57, 121, 378, 10334, 17280, 16755] as [UInt32])
    func serverCodesThatRefuseTheDocumentArePermanentForIt(code: UInt32) {
        #expect(server(code).kind == .refusedDocument)
        #expect(server(code).isPermanentForDocument)
        #expect(!server(code).isTransient)
    }

    @Test(arguments: [11000, 13, 18, 20, 26, 59, 79, 100, 8, 99_999] as [UInt32])
    func configurationAndUnknownCodesAreNeither(code: UInt32) {
        #expect(server(code).kind == .other)
        #expect(!server(code).isTransient && !server(code).isPermanentForDocument)
    }

    @Test func everyCodeInTheTableHasAName() {
        for (code, entry) in MongoError.serverCodes {
            #expect(!entry.name.isEmpty, "code \(code)")
        }
        #expect(server(10334).description.contains("BSONObjectTooLarge"))
    }

    @Test(arguments: ["RetryableWriteError", "TransientTransactionError", "NetworkError"])
    func aTransientLabelOverridesTheCode(label: String) {
        for code: UInt32 in [2, 121, 10334, 13, 99_999] {
            let labelled = server(code, labels: ["NoWritesPerformed", label])
            #expect(labelled.isTransient, "code \(code) labelled \(label)")
            #expect(!labelled.isPermanentForDocument)
        }
    }

    @Test func otherLabelsChangeNothing() {
        #expect(server(121, labels: ["NoWritesPerformed"]).kind == .refusedDocument)
        #expect(server(99_999, labels: ["NoWritesPerformed"]).kind == .other)
        #expect(server(91, labels: ["NoWritesPerformed"]).kind == .transient)
    }

    @Test func domainsOfLibmongocsOwnErrors() {
        #expect(libmongoc(MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_SOCKET.rawValue).isTransient)
        #expect(libmongoc(MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_CONNECT.rawValue).isTransient)
        #expect(libmongoc(MONGOC_ERROR_SERVER_SELECTION, MONGOC_ERROR_SERVER_SELECTION_FAILURE.rawValue).isTransient)
        #expect(libmongoc(MONGOC_ERROR_PROTOCOL, MONGOC_ERROR_PROTOCOL_INVALID_REPLY.rawValue).isTransient)
        #expect(libmongoc(MONGOC_ERROR_WRITE_CONCERN, 64).isTransient)
        #expect(libmongoc(MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_NOT_READY.rawValue).isTransient)
        let bson = libmongoc(MONGOC_ERROR_BSON, MONGOC_ERROR_BSON_INVALID.rawValue)
        #expect(bson.isPermanentForDocument && !bson.isTransient)
        let authentication = libmongoc(MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_AUTHENTICATE.rawValue)
        #expect(authentication.kind == .other)
        #expect(libmongoc(MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_NO_ACCEPTABLE_PEER.rawValue).kind == .other)
        // libmongoc's own argument errors are not server codes, even when the numbers collide
        // (COMMAND_INVALID_ARG is 22, the server's InvalidBSON is 22 too).
        #expect(libmongoc(MONGOC_ERROR_COMMAND, MONGOC_ERROR_COMMAND_INVALID_ARG.rawValue).kind == .other)
    }

    @Test func aDocumentLibmongocRefusesIsRefusedForWhatItIs() {
        var error = bson_error_t()
        error.domain = MONGOC_ERROR_COMMAND.rawValue
        error.code = MONGOC_ERROR_COMMAND_INVALID_ARG.rawValue
        let refused = MongoError.refusedDocument(error, context: "insert event e1")
        #expect(refused.isPermanentForDocument)
        #expect(refused.context == "insert event e1")
    }

    @Test func labelsAreReadFromTheReplyAndItsWriteConcernErrors() {
        let reply = #"{"ok": 0, "code": 91, "errorLabels": ["RetryableWriteError"], "writeConcernError": {"code": 64, "errorLabels": ["NoWritesPerformed"]}}"#
        #expect(MongoError.labels(inReplyJSON: reply) == ["RetryableWriteError", "NoWritesPerformed"])
        let bulk = #"{"nInserted": 0, "writeConcernErrors": [{"code": 64, "errorLabels": ["RetryableWriteError"]}]}"#
        #expect(MongoError.labels(inReplyJSON: bulk) == ["RetryableWriteError"])
        #expect(MongoError.labels(inReplyJSON: #"{"nInserted": 3}"#).isEmpty)
        #expect(MongoError.labels(inReplyJSON: "not json").isEmpty)
    }

    @Test func theDescriptionSaysWhatToDo() {
        #expect(server(91).description.contains("transient, will retry"))
        #expect(server(121).description.contains("document refused for good"))
        #expect(server(13).description.contains("permanent"))
        #expect(server(91, labels: ["RetryableWriteError"]).description.contains("RetryableWriteError"))
    }

    @Test func aCallWaitsForAFreeClientOnlyUntilItsDeadlineThenFailsTransiently() throws {
        // No server is needed: the pool makes clients lazily. Its one client is held by the outer call.
        let pool = try MongoClientPool(uri: "mongodb://127.0.0.1:1/x", maxClients: 1, appName: "test", clientWait: .milliseconds(200))
        let clock = ContinuousClock()
        let started = clock.now
        let inner = try pool.withClient { _ -> MongoError? in
            do throws(MongoError) {
                try pool.withClient { _ in }
                return nil
            } catch {
                return error
            }
        }
        let waited = clock.now - started
        let error = try #require(inner, "the second call got a client the pool does not have")
        #expect(error.isTransient)
        #expect(waited >= .milliseconds(150) && waited < .seconds(5))
        #expect(try pool.withClient { _ in 1 } == 1, "the client went back to the pool")
    }

    @Test func storedIDsAreUniquePerSiteAndEventID() {
        #expect(MongoStore.documentID(siteID: "a.example", eventID: "e/1") == "a.example/e/1")
        #expect(MongoStore.documentID(siteID: "a", eventID: "x") != MongoStore.documentID(siteID: "b", eventID: "x"))
    }
}
