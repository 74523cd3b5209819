import Testing

@testable import Shared
@testable import Worker

/// The worker's settings are checked at start: every number in range, and an error that names
/// the variable to fix.
struct WorkerConfigurationTests {
    /// The configuration error's message for `values`, or nil when they are accepted.
    func refusal(_ values: [String: String]) -> String? {
        do {
            _ = try WorkerConfiguration(environment: Environment(values)).validated()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func countriesComeFromGeoIPDBWhenSetElseFromDebiansDatabases() throws {
        #expect(try WorkerConfiguration(environment: Environment([:])).countrySource == CountryDatabase.debianDefault)
        let configured = try WorkerConfiguration(environment: Environment(["GEOIP_DB": "/srv/GeoLite2-Country.mmdb"]))
        #expect(configured.countrySource == .maxMind(path: "/srv/GeoLite2-Country.mmdb"))
    }

    @Test func aZeroHeartbeatTTLIsRefusedNamingTheVariable() throws {
        guard let message = refusal(["HEARTBEAT_TTL_MS": "0"]) else {
            Issue.record("HEARTBEAT_TTL_MS=0 was accepted: the worker would be invisible to its peers")
            return
        }
        #expect(message.contains("HEARTBEAT_TTL_MS=0"))
        #expect(message.contains("from 500 to 600000"))
    }

    @Test(arguments: [
        ("WORKER_BATCH_SIZE", "0"), ("WORKER_BATCH_SIZE", "10001"), ("WORKER_CONCURRENCY", "0"), ("WORKER_CONCURRENCY", "65"),
        ("RETRY_BASE_MS", "0"), ("RETRY_CAP_MS", "-5"), ("RETRY_MAX_ATTEMPTS", "0"), ("BREAKER_THRESHOLD", "0"),
        ("HEARTBEAT_TTL_MS", "499"), ("HEARTBEAT_TTL_MS", "600001"), ("THROTTLE_MAX_KEYS", "0"), ("THROTTLE_DEDUP_IDS", "-1"),
        ("THROTTLE_POLL_MS", "0"), ("WORKER_METRICS_PORT", "0"), ("WORKER_METRICS_PORT", "65536"), ("WORKER_BATCH_SIZE", "many"),
        ("VISITS_MAX_PER_BUCKET", "0"), ("VISITS_MAX_PER_BUCKET", "100000001"),
    ])
    func outOfRangeNumbersAreRefusedNamingTheirVariable(key: String, value: String) {
        guard let message = refusal([key: value]) else {
            Issue.record("\(key)=\(value) was accepted")
            return
        }
        #expect(message.contains("\(key)=\(value)"), "\(message)")
    }

    @Test func aRetryBaseAboveTheCapIsRefused() {
        guard let message = refusal(["RETRY_BASE_MS": "5000", "RETRY_CAP_MS": "1000"]) else {
            Issue.record("a base above the cap was accepted")
            return
        }
        #expect(message.contains("RETRY_BASE_MS") && message.contains("RETRY_CAP_MS"))
    }

    @Test func defaultsBoundEveryTrackedKeyAndDeriveTheLoopsFromTheTTL() throws {
        let configuration = try WorkerConfiguration(environment: Environment(["HEARTBEAT_TTL_MS": "2000"])).validated()
        #expect(configuration.throttleMaxKeys == 100_000)
        #expect(configuration.heartbeatInterval == .milliseconds(500))
        #expect(configuration.recoveryInterval == .milliseconds(1000))
    }
}

/// The default throttle rule from the environment: an error names the variable to fix.
struct ThrottleEnvironmentTests {
    @Test(arguments: [
        (["THROTTLE_STRATEGY": "fixed-windw"], "THROTTLE_STRATEGY"),
        (["THROTTLE_STRATEGY": "fixed-window", "THROTTLE_LIMIT": "5"], "THROTTLE_WINDOW_MS"),
        (["THROTTLE_STRATEGY": "token-bucket", "THROTTLE_BUCKET_SIZE": "5"], "THROTTLE_REFILL_RATE"),
        (["THROTTLE_STRATEGY": "sliding-window", "THROTTLE_LIMIT": "1000000", "THROTTLE_WINDOW_MS": "1000"], "THROTTLE_LIMIT"),
    ])
    func aBadDefaultRuleNamesItsVariable(values: [String: String], key: String) {
        do {
            _ = try ThrottleRule.fromEnvironment(Environment(values))
            Issue.record("\(values) was accepted")
        } catch {
            #expect("\(error)".contains(key), "\(error)")
        }
    }
}
