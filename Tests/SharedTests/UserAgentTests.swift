import Testing

@testable import Shared

/// The user-agent classifier against real user-agent strings, bots and hostile input.
struct UserAgentTests {
    /// A real user agent and what it should be classified as.
    struct Case: Sendable, CustomTestStringConvertible {
        let label: String
        let userAgent: String
        let expected: UserAgentInfo

        init(_ label: String, _ userAgent: String, _ browser: String, _ browserVersion: String, _ os: String, _ osVersion: String, _ device: DeviceKind) {
            self.label = label
            self.userAgent = userAgent
            self.expected = UserAgentInfo(browser: browser, browserVersion: browserVersion, os: os, osVersion: osVersion, device: device)
        }

        var testDescription: String { label }
    }

    @Test(arguments: browsers)
    func classifiesRealUserAgents(_ sample: Case) {
        #expect(UserAgentClassifier.classify(sample.userAgent) == sample.expected)
    }

    @Test(arguments: browsers)
    func realBrowsersAreNotBots(_ sample: Case) {
        #expect(!UserAgentClassifier.isBot(sample.userAgent))
    }

    @Test(arguments: bots)
    func botsAreBots(_ userAgent: String) {
        #expect(UserAgentClassifier.isBot(userAgent))
    }

    @Test(arguments: notBots)
    func httpClientsAndLookAlikesAreNotBots(_ userAgent: String) {
        #expect(!UserAgentClassifier.isBot(userAgent))
    }

    @Test func corpusIsLargeAndCoversEveryName() {
        #expect(Self.browsers.count >= 60)
        #expect(Self.bots.count >= 40)
        let browsers = Set(Self.browsers.map(\.expected.browser))
        for name in ["Microsoft Edge", "Opera", "Samsung Internet", "Yandex Browser", "UC Browser", "Vivaldi", "Firefox", "Chrome",
                     "Chrome Webview", "Safari", "Facebook", "Instagram", "TikTok", "Snapchat", "LinkedIn", "Pinterest", "Twitter",
                     "WeChat", "DuckDuckGo Privacy Browser", "Brave", "Internet Explorer"] {
            #expect(browsers.contains(name), "no sample for \(name)")
        }
        let systems = Set(Self.browsers.map(\.expected.os))
        for name in ["Windows", "Mac", "iOS", "iPadOS", "Android", "GNU/Linux", "Chrome OS", "HarmonyOS", "KaiOS", "FreeBSD"] {
            #expect(systems.contains(name), "no sample for \(name)")
        }
    }

    // MARK: - Hostile input

    /// Nothing known: empty fields on a desktop.
    static let unknown = UserAgentInfo(browser: "", browserVersion: "", os: "", osVersion: "", device: .desktop)

    @Test(arguments: ["", "Mozilla/5.0", " ", "\0", "()", ";;;;", "/", "Mozilla/5.0 ()"])
    func nearlyEmptyInputIsUnknown(_ userAgent: String) {
        #expect(UserAgentClassifier.classify(userAgent) == Self.unknown)
        #expect(!UserAgentClassifier.isBot(userAgent))
    }

    /// A repeatable byte generator for junk input.
    struct JunkBytes: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state
        }
    }

    @Test func junkOfAnyLengthNeverTraps() {
        var generator = JunkBytes(state: 7)
        for length in [1, 2, 3, 7, 100, 511, 512, 513, 4096, 100_000] {
            let bytes = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            let junk = String(decoding: bytes, as: UTF8.self)
            _ = UserAgentClassifier.classify(junk)
            _ = UserAgentClassifier.isBot(junk)
            // Printable ASCII junk: more chances to hit partial tokens.
            let letters = Array("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ/;()._0123456789".utf8)
            let text = String(decoding: (0..<length).map { _ in letters[Int(generator.next() % UInt64(letters.count))] }, as: UTF8.self)
            _ = UserAgentClassifier.classify(text)
            _ = UserAgentClassifier.isBot(text)
        }
    }

    @Test func hundredKilobytesLookOnlyAtTheFirst512Bytes() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
        let long = chrome + String(repeating: "x", count: 100_000) + " Googlebot/2.1 Android 14 Mobile"
        let info = UserAgentClassifier.classify(long)
        #expect(info == UserAgentInfo(browser: "Chrome", browserVersion: "120.0", os: "Windows", osVersion: "10", device: .desktop))
        #expect(!UserAgentClassifier.isBot(long))
        // A token straddling byte 512 is not seen either.
        let straddling = String(repeating: " ", count: 509) + "Googlebot"
        #expect(!UserAgentClassifier.isBot(straddling))
        #expect(UserAgentClassifier.isBot(String(repeating: " ", count: 500) + "Googlebot"))
    }

    @Test func invalidUTF8AndMultibyteTextAreHarmless() {
        let invalid = String(decoding: [0xFF, 0xFE, 0xC0, 0x80, 0xED, 0xA0, 0x80, 0xF4, 0x90, 0x80, 0x80, 0xE2, 0x82], as: UTF8.self)
        #expect(UserAgentClassifier.classify(invalid) == Self.unknown)
        #expect(!UserAgentClassifier.isBot(invalid))
        // Multi-byte characters cut at byte 512.
        let accents = String(repeating: "é", count: 300) + "Chrome/120.0"
        #expect(UserAgentClassifier.classify(accents) == Self.unknown)
        let emoji = "Mozilla/5.0 (🤖; Android 14; Mobile) Chrome/120.0.0.0 Mobile Safari/537.36 🕷️"
        #expect(UserAgentClassifier.classify(emoji) == UserAgentInfo(browser: "Chrome", browserVersion: "120.0", os: "Android", osVersion: "14", device: .mobile))
        #expect(!UserAgentClassifier.isBot(emoji))
    }

    @Test func controlCharactersDoNotHideTokens() {
        let ua = "Mozilla/5.0\0(Windows NT 10.0\r\n; Win64)\tChrome/120.0.0.0\u{7}"
        #expect(UserAgentClassifier.classify(ua) == UserAgentInfo(browser: "Chrome", browserVersion: "120.0", os: "Windows", osVersion: "10", device: .desktop))
        #expect(UserAgentClassifier.isBot("\0\r\nGooglebot\0"))
    }

    @Test func tokensWithoutVersionsOrWithAbsurdOnes() {
        #expect(UserAgentClassifier.classify("Chrome/") == UserAgentInfo(browser: "Chrome", browserVersion: "", os: "", osVersion: "", device: .desktop))
        #expect(UserAgentClassifier.classify("Windows NT ") == UserAgentInfo(browser: "", browserVersion: "", os: "Windows", osVersion: "", device: .desktop))
        #expect(UserAgentClassifier.classify("Android") == UserAgentInfo(browser: "", browserVersion: "", os: "Android", osVersion: "", device: .tablet))
        #expect(UserAgentClassifier.classify("iPhone OS 17_") == UserAgentInfo(browser: "", browserVersion: "", os: "iOS", osVersion: "17", device: .mobile))
        #expect(UserAgentClassifier.classify("Chrome/99999999999999999999.1").browserVersion == "")
        #expect(UserAgentClassifier.classify("Chrome/120.99999999999999999").browserVersion == "")
        #expect(UserAgentClassifier.classify("Chrome/120..0").browserVersion == "120")
        #expect(UserAgentClassifier.classify("Windows NT 11.0").osVersion == "11.0")
        #expect(UserAgentClassifier.classify("CHROME/120.0 (WINDOWS NT 6.1)") == UserAgentInfo(browser: "Chrome", browserVersion: "120.0", os: "Windows", osVersion: "7", device: .desktop))
    }

    @Test func botWordRules() {
        #expect(UserAgentClassifier.isBot("MyBot"))
        #expect(UserAgentClassifier.isBot("my-bot/1.0"))
        #expect(UserAgentClassifier.isBot("bot;"))
        #expect(!UserAgentClassifier.isBot("Bottle"))
        #expect(!UserAgentClassifier.isBot("CUBOT"))
        #expect(!UserAgentClassifier.isBot("cubot/1.0"))
        // A CUBOT phone does not hide a bot elsewhere in the string.
        #expect(UserAgentClassifier.isBot("Mozilla/5.0 (Linux; Android 10; CUBOT X30) Chrome/120.0 (compatible; Googlebot/2.1)"))
    }
}
