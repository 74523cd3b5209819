import Foundation
import Testing

@testable import Shared

/// A deployment moving to a replica set or a sharded cluster changes `MONGO_URI`, not code:
/// the options its connection string carries reach libmongoc and are used.
///
/// nx-27017 is one server, so what it can show is that the options are accepted and the
/// pipeline runs with them: `w=majority` (a standalone answers it like `w=1`), `retryWrites`,
/// `readPreference` (a standalone serves every mode) and `readConcernLevel`. `replicaSet=` is not
/// tested: nx-27017 does not answer `hello` as a replica-set member, so libmongoc, rightly,
/// finds no server of that set (the gap is nx-27017's; MongoDB documents the option).
struct MongoOptionsTests {
    static let options = "w=majority&wtimeoutMS=5000&retryWrites=true&retryReads=true&readPreference=primaryPreferred&readConcernLevel=majority"

    @Test func aWorkerStoresAndTheStoreReadsWithReplicaSetOptionsInTheURI() async throws {
        try await TestServers.with { servers in
            let uri = servers.configuration.mongoURI + "?" + Self.options
            let store = try MongoStore(uri: uri, maxClients: 2, appName: "tests", logger: servers.logger)
            let worker = try WorkerProcess(servers, extra: ["MONGO_URI": uri, "WORKER_BATCH_SIZE": "10"])
            let payloads = (0..<25).map { payload(site: "options.example", path: "/p\($0)", id: "options-\($0)") }
            try await servers.queue.enqueue(payloads)
            try await eventually("every event is stored through a URI with replica-set options") { try await store.countAll() == 25 }
            // Read back through the same options: the documents, not only a count.
            let paths = try await store.aggregate(pipelineJSON: #"[{"$match": {"site_id": "options.example"}}, {"$group": {"_id": "$path"}}]"#)
            #expect(paths.count == 25)
            await worker.stop()
            await store.shutdown()
        }
    }

    @Test func aURIOptionLibmongocDoesNotKnowIsRefusedAtStartNotIgnored() {
        #expect(throws: MongoError.self) {
            _ = try MongoStore(uri: "mongodb://127.0.0.1:1/x?readPreference=fastest", maxClients: 2, appName: "tests", logger: .init(label: "t"))
        }
    }
}
