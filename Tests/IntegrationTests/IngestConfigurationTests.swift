import Testing

@testable import IngestAPI
@testable import Shared

/// IngestAPI refuses to start on a number out of range, and says which variable to fix.
struct IngestConfigurationTests {
    @Test(arguments: [
        ("PORT", "0"), ("PORT", "70000"), ("REDIS_CONNECTIONS", "0"), ("MONGO_CLIENTS", "1"), ("QUEUE_MAX", "-5"),
        ("HTTP_IDLE_TIMEOUT_MS", "0"), ("HTTP_READ_TIMEOUT_MS", "1"), ("HTTP_MAX_CONNECTIONS", "0"),
        ("INGEST_MAX_WAITING_BYTES", "10"), ("HTTP_MAX_CONNECTIONS_PER_ADDRESS", "-1"), ("STATS_MAX_TIME_MS", "0"), ("TRUST_PROXY", "1000"),
        ("REDIS_READ_TIMEOUT_MS", "0"), ("REDIS_CONNECT_TIMEOUT_MS", "abc"), ("QUEUE_PREFIX", "et :"),
        ("REDIS_ACK_REPLICAS", "-1"), ("REDIS_ACK_REPLICAS", "17"), ("REDIS_ACK_TIMEOUT_MS", "0"),
    ])
    func anOutOfRangeNumberIsRefusedNamingItsVariable(key: String, value: String) {
        do {
            _ = try IngestConfiguration(environment: Environment([key: value]))
            Issue.record("\(key)=\(value) was accepted")
        } catch {
            #expect("\(error)".contains(key), "the error does not name \(key): \(error)")
        }
    }

    @Test func theDefaultsAreInRange() throws {
        let configuration = try IngestConfiguration(environment: Environment([:]))
        #expect(configuration.httpMaxConnections == 2048)
        #expect(configuration.maxWaitingBytes >= EventValidator.maxBatchBytes)
        #expect(configuration.httpMaxConnectionsPerAddress == 256)
        #expect(try IngestConfiguration(environment: Environment(["TRUST_PROXY": "1"])).httpMaxConnectionsPerAddress == 0)
        #expect(configuration.metricsToken == nil)
        #expect(configuration.pushAcks == nil, "a push needs no replica unless asked")
        let acked = try IngestConfiguration(environment: Environment(["REDIS_ACK_REPLICAS": "1"]))
        #expect(acked.pushAcks == ReplicaAcks(replicas: 1, timeout: .seconds(1)))
    }
}
