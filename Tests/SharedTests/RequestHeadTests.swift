import Testing

@testable import Shared

/// What ingest reads from a request head: the `Content-Type` media type and the client address
/// (socket peer or `X-Forwarded-For`), both parsed without trusting a byte.
struct RequestHeadTests {
    // MARK: MediaType

    @Test(arguments: [
        ("application/json", "application/json"),
        (" Application/JSON ; charset=utf-8", "application/json"),
        ("application/json;charset=utf-8", "application/json"),
        ("\tTEXT/Plain\t", "text/plain"),
        ("application/vnd.api+json; q=1", "application/vnd.api+json"),
    ])
    func essenceIsLowercaseTypeSlashSubtype(header: String, essence: String) {
        #expect(MediaType.essence(of: header) == essence)
    }

    @Test(arguments: [";", ";;;", "", " ", "text/", "/json", "/", "a/b/c", "application json", "appli\u{00E9}/json",
                      "application/json\u{0}", "a/b c", "; application/json", "\"application/json\""])
    func essenceRefusesMalformedTypes(header: String) {
        #expect(MediaType.essence(of: header) == nil)
    }

    @Test func essenceRefusesOverlongHeaders() {
        let long = "application/json;" + String(repeating: "a=b;", count: 2500)
        #expect(MediaType.essence(of: long) == nil)
        let justFits = "application/json;" + String(repeating: "x", count: MediaType.maxHeaderBytes - 17)
        #expect(MediaType.essence(of: justFits) == "application/json")
    }

    @Test func jsonCompatibleTypes() {
        #expect(MediaType.isJSONCompatible("application/json"))
        #expect(MediaType.isJSONCompatible("text/plain"))
        #expect(MediaType.isJSONCompatible("application/ld+json"))
        #expect(!MediaType.isJSONCompatible("text/html"))
        #expect(!MediaType.isJSONCompatible("application/x-www-form-urlencoded"))
    }

    // MARK: ClientAddress

    @Test func parsesIPv4WithAndWithoutPort() {
        #expect(ClientAddress("192.0.2.1") == .v4(192, 0, 2, 1))
        #expect(ClientAddress("192.0.2.1:54321") == .v4(192, 0, 2, 1))
        #expect(ClientAddress("192.0.2.1")?.rateLimitKey == "192.0.2.1")
        #expect(ClientAddress("192.0.2.1:") == nil)
        #expect(ClientAddress("192.0.2.1:123456") == nil)
        #expect(ClientAddress("192.0.2.1:http") == nil)
    }

    @Test func parsesIPv6BareAndBracketed() {
        let bytes: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [1]
        #expect(ClientAddress("2001:db8::1") == .v6(bytes))
        #expect(ClientAddress("[2001:db8::1]") == .v6(bytes))
        #expect(ClientAddress("[2001:db8::1]:443") == .v6(bytes))
        #expect(ClientAddress("2001:db8::1")?.rateLimitKey == "2001:db8:0:0::/64")
        #expect(ClientAddress("[2001:db8::1]:") == nil)
        #expect(ClientAddress("[2001:db8::1") == nil)
        #expect(ClientAddress("[2001:db8::1]x") == nil)
        #expect(ClientAddress("[]:80") == nil)
    }

    @Test func ipv4MappedIPv6CountsAsIPv4() {
        #expect(ClientAddress("::ffff:192.0.2.1") == .v4(192, 0, 2, 1))
        #expect(ClientAddress("[::ffff:192.0.2.1]:80")?.rateLimitKey == "192.0.2.1")
    }

    @Test func ipv6AddressesShareTheirSlash64() {
        let a = ClientAddress("2001:db8:1:2:aaaa::1")
        let b = ClientAddress("[2001:db8:1:2:ffff:ffff:ffff:ffff]:8080")
        let c = ClientAddress("2001:db8:1:3::1")
        #expect(a != nil && b != nil && c != nil)
        #expect(a != b)
        #expect(a?.rateLimitKey == b?.rateLimitKey)
        #expect(a?.rateLimitKey == "2001:db8:1:2::/64")
        #expect(a?.rateLimitKey != c?.rateLimitKey)
        #expect(c?.rateLimitKey.hasSuffix("::/64") == true)
    }

    @Test(arguments: ["", "garbage", "unknown", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4x", " 1.2.3.4", "1.2.3.4 ",
                      "1.2.3.4\u{0}", "1.2.3.4\u{0}evil", "::1\u{0}", "fe80::1%eth0", "1.2.3.4:80:80", ":::",
                      String(repeating: "1", count: 100)])
    func refusesGarbageAddresses(text: String) {
        #expect(ClientAddress(text) == nil)
    }

    // MARK: X-Forwarded-For

    @Test func forwardedTakesTheEntryOurOutermostProxyAppended() {
        let chain = ["203.0.113.7, 10.0.0.1", "198.51.100.2"]
        #expect(ClientAddress.forwarded(chain, trustedProxies: 1) == .v4(198, 51, 100, 2))
        #expect(ClientAddress.forwarded(chain, trustedProxies: 2) == .v4(10, 0, 0, 1))
        #expect(ClientAddress.forwarded(chain, trustedProxies: 3) == .v4(203, 0, 113, 7))
        #expect(ClientAddress.forwarded(["2001:db8::7 ,\t[2001:db8:1::9]:1234"], trustedProxies: 1)?.rateLimitKey == "2001:db8:1:0::/64")
    }

    @Test func forwardedIsNilWhenTooFewHopsOrGarbage() {
        #expect(ClientAddress.forwarded(["203.0.113.7"], trustedProxies: 2) == nil)
        #expect(ClientAddress.forwarded([], trustedProxies: 1) == nil)
        #expect(ClientAddress.forwarded([" , ,"], trustedProxies: 1) == nil)
        #expect(ClientAddress.forwarded(["203.0.113.7"], trustedProxies: 0) == nil)
        #expect(ClientAddress.forwarded(["1.2.3.4, not-an-ip"], trustedProxies: 1) == nil)
        #expect(ClientAddress.forwarded(["1.2.3.4, not-an-ip"], trustedProxies: 2) == .v4(1, 2, 3, 4))
        #expect(ClientAddress.forwarded(["1.2.3.4\u{0}, 5.6.7.8"], trustedProxies: 2) == nil)
    }

    /// A client that pads the header with entries of its own choosing still gets the entry our
    /// proxy appended: padding must not move it into another rate-limit bucket.
    @Test func forwardedIgnoresAnyPaddingBeforeTheTrustedEntries() {
        let padding = (0..<500).map { "10.0.\($0 / 256).\($0 % 256)" }
        #expect(ClientAddress.forwarded([(padding + ["198.51.100.9"]).joined(separator: ",")], trustedProxies: 1) == .v4(198, 51, 100, 9))
        #expect(ClientAddress.forwarded(padding + ["198.51.100.9, 10.9.9.9"], trustedProxies: 2) == .v4(198, 51, 100, 9))
        #expect(ClientAddress.forwarded(["198.51.100.9"], trustedProxies: ClientAddress.maxForwardedHops + 1) == nil)
    }
}

/// Inputs scripts/fuzz found, kept as plain tests.
struct FuzzRegressionTests {
    /// An offset could move year 0000 into year -1, which `formatISO8601` writes as `00-1-…`:
    /// ingest accepted the event and `revalidate` (dead-letter replay) then refused it.
    @Test func timestampsOutsideFourDigitYearsAreRefused() {
        #expect(Timestamp.parseISO8601("0000-01-01T00:00:00+00:01") == nil)
        #expect(Timestamp.parseISO8601("9999-12-31T23:59:59-00:01") == nil)
        let first = Timestamp.parseISO8601("0000-01-01T00:00:00Z")
        #expect(first.map(Timestamp.formatISO8601) == "0000-01-01T00:00:00.000Z")
        let last = Timestamp.parseISO8601("9999-12-31T23:59:59.999Z")
        #expect(last.map(Timestamp.formatISO8601) == "9999-12-31T23:59:59.999Z")
    }
}
