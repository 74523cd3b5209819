import Foundation
import Testing

@testable import Shared

/// Throttle rules, rate limits and durations as users write them, and what makes events identical.
struct ThrottleConfigurationTests {
    @Test func rulesOfEachStrategyRoundTripThroughTheirJSON() throws {
        let rules = [
            try ThrottleRule.make(strategy: "fixed-window", limit: 5, window: .seconds(60), bucketSize: nil, refillRate: nil, deferInterval: .seconds(30), expireTime: nil),
            try ThrottleRule.make(strategy: "token-bucket", limit: nil, window: nil, bucketSize: 10, refillRate: 2.5, deferInterval: nil, expireTime: .seconds(600)),
            try ThrottleRule.make(strategy: "sliding-window", limit: 3, window: .milliseconds(1500), bucketSize: nil, refillRate: nil, deferInterval: nil, expireTime: nil),
        ]
        for rule in rules {
            let again = try ThrottleRule(json: rule.json.bytes)
            #expect(again.json == rule.json)
        }
        #expect(rules[0].json.serialized == #"{"strategy":"fixed-window","limit":5,"window_ms":60000,"defer_interval_ms":30000,"expire_ms":86400000}"#)
        #expect(rules[1].strategy.scriptParameters == ("bucket", 10, 2.5))
    }

    @Test func aRuleMissingAParameterNamesIt() {
        #expect(throws: ThrottleRuleError.missing("bucket-size", strategy: "token-bucket")) {
            try ThrottleRule.make(strategy: "token-bucket", limit: nil, window: nil, bucketSize: nil, refillRate: 1, deferInterval: nil, expireTime: nil)
        }
        #expect(throws: ThrottleRuleError.missing("window", strategy: "fixed-window")) {
            try ThrottleRule.make(strategy: "fixed-window", limit: 5, window: nil, bucketSize: nil, refillRate: nil, deferInterval: nil, expireTime: nil)
        }
        #expect(throws: ThrottleRuleError.self) {
            try ThrottleRule.make(strategy: "leaky", limit: 5, window: .seconds(1), bucketSize: nil, refillRate: nil, deferInterval: nil, expireTime: nil)
        }
        #expect(throws: ThrottleRuleError.self) {
            try ThrottleRule.make(strategy: "fixed-window", limit: 0, window: .seconds(1), bucketSize: nil, refillRate: nil, deferInterval: nil, expireTime: nil)
        }
    }

    @Test func throttlingIsOffUntilConfigured() throws {
        #expect(try ThrottleRule.fromEnvironment(Environment([:])) == nil)
        #expect(try ThrottleRule.fromEnvironment(Environment(["THROTTLE_STRATEGY": "off"])) == nil)
        let rule = try #require(try ThrottleRule.fromEnvironment(Environment([
            "THROTTLE_STRATEGY": "fixed-window", "THROTTLE_LIMIT": "5", "THROTTLE_WINDOW_MS": "60000", "THROTTLE_DEFER_INTERVAL_MS": "1000",
        ])))
        #expect(rule.deferInterval == .seconds(1))
        #expect(throws: (any Error).self) { try ThrottleRule.fromEnvironment(Environment(["THROTTLE_STRATEGY": "fixed-window"])) }
    }

    @Test func everyThrottleNumberOutOfRangeIsRefusedNamingItsVariable() {
        let base = ["THROTTLE_STRATEGY": "fixed-window", "THROTTLE_LIMIT": "5", "THROTTLE_WINDOW_MS": "60000"]
        for (key, value) in [
            ("THROTTLE_LIMIT", "0"), ("THROTTLE_WINDOW_MS", "-1"), ("THROTTLE_DEFER_INTERVAL_MS", "0"), ("THROTTLE_EXPIRE_MS", "99999999999"),
        ] {
            #expect {
                try ThrottleRule.fromEnvironment(Environment(base.merging([key: value]) { _, new in new }))
            } throws: { error in
                "\(error)".contains(key)
            }
        }
        let bucket = ["THROTTLE_STRATEGY": "token-bucket", "THROTTLE_BUCKET_SIZE": "10"]
        for rate in ["0", "-2", "nan", "lots"] {
            #expect {
                try ThrottleRule.fromEnvironment(Environment(bucket.merging(["THROTTLE_REFILL_RATE": rate]) { _, new in new }))
            } throws: { error in
                "\(error)".contains("THROTTLE_REFILL_RATE")
            }
        }
    }

    @Test func aStreamRuleBeatsItsSiteRuleWhichBeatsTheDefault() throws {
        let fixed = { (limit: Int) in ThrottleRule(strategy: .fixedWindow(limit: limit, window: .seconds(1))) }
        let settings = ThrottleSettings(defaultRule: fixed(1), rules: [
            ThrottleScope(siteID: "s1", eventType: "click"): fixed(2), ThrottleScope(siteID: "s1"): fixed(3),
        ])
        func limit(_ site: String, _ type: String) -> Double? { settings.rule(siteID: site, eventType: type)?.strategy.scriptParameters.first }
        #expect(limit("s1", "click") == 2)
        #expect(limit("s1", "page_view") == 3)
        #expect(limit("s2", "click") == 1)
        #expect(ThrottleSettings().isActive == false)
        #expect(ThrottleScope(field: "s1|*") == ThrottleScope(siteID: "s1"))
        #expect(ThrottleScope(field: "nobar") == nil)
    }

    @Test func identicalMeansSamePathUserAndPropsInAnyKeyOrder() {
        func event(path: String = "/a", user: String? = "u1", props: [String: PropValue]? = ["a": .int(1), "b": .string("x")], id: String = "e1") -> Event {
            Event(eventID: id, siteID: "s", eventType: "page_view", path: path, userID: user, timestamp: 0, receivedAt: 0, props: props)
        }
        let base = Throttle.identity(of: event())
        #expect(base.count == 64)
        #expect(Throttle.identity(of: event(props: ["b": .string("x"), "a": .int(1)], id: "e2")) == base)
        #expect(Throttle.identity(of: event(path: "/b")) != base)
        #expect(Throttle.identity(of: event(user: nil)) != base)
        #expect(Throttle.identity(of: event(props: ["a": .int(2), "b": .string("x")])) != base)
        #expect(Throttle.identity(of: event(props: ["a": .string("1"), "b": .string("x")])) != base)
    }

    @Test func daysAreUTCDays() {
        #expect(Throttle.day(of: 0) == 0)
        #expect(Throttle.day(of: 86_399_999) == 0)
        #expect(Throttle.day(of: 86_400_000) == 1)
        #expect(Throttle.day(of: -1) == -1)
    }

    @Test func durationsAndRateLimitsAsWrittenOnACommandLine() {
        #expect(DurationText.parse("500ms") == .milliseconds(500))
        #expect(DurationText.parse("60s") == .seconds(60))
        #expect(DurationText.parse("5m") == .seconds(300))
        #expect(DurationText.parse("1h") == .seconds(3600))
        #expect(DurationText.parse("7d") == .seconds(604_800))
        for bad in ["", "s", "10", "-5s", "1.5s", "5x", "ms"] { #expect(DurationText.parse(bad) == nil, "\(bad)") }
        #expect(DurationText.format(.seconds(120)) == "2m")
        #expect(DurationText.format(.milliseconds(1500)) == "1500ms")
        #expect(RateLimit("100/1s") == RateLimit(limit: 100, period: .seconds(1)))
        #expect(RateLimit("60/1m")?.description == "60/1m")
        for bad in ["100", "0/1s", "x/1s", "10/1", "10/1s/2"] { #expect(RateLimit(bad) == nil, "\(bad)") }
    }

    @Test func rateLimitsComeFromTheEnvironmentAndSiteOverridesReplaceScopes() throws {
        let defaults = try RateLimits(environment: Environment(["RATE_LIMIT_SITE": "1000/1s", "RATE_LIMIT_ADDRESS": "120/1m"]))
        #expect(defaults.site == RateLimit(limit: 1000, period: .seconds(1)))
        #expect(defaults.user == nil)
        let override = RateLimits(site: RateLimit("5/1s"), user: RateLimit("2/1m"))
        #expect(RateLimits(json: override.json.bytes) == override)
        let merged = defaults.overridden(by: override)
        #expect(merged.site == RateLimit("5/1s"))
        #expect(merged.address == RateLimit("120/1m"))
        #expect(throws: ConfigurationError.self) { try RateLimits(environment: Environment(["RATE_LIMIT_USER": "lots"])) }
        #expect(RateLimits(json: Array(#"{"site":"fast"}"#.utf8)) == nil)
    }
}
