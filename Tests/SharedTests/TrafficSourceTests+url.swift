import Foundation
import Testing

@testable import Shared

/// Page URLs as the pipeline parses them, and their query values.
extension TrafficSourceTests {
    // MARK: - PageURL.parse

    /// An input URL and the parts it should give.
    struct ParseCase: Sendable, CustomTestStringConvertible {
        let url: String
        let hashMode: Bool
        let hostname: String
        let path: String
        let query: String
        var testDescription: String { brief(url) + (hashMode ? " (hash mode)" : "") }

        init(_ url: String, hashMode: Bool = false, _ hostname: String, _ path: String, _ query: String = "") {
            self.url = url
            self.hashMode = hashMode
            self.hostname = hostname
            self.path = path
            self.query = query
        }
    }

    static let parseCases: [ParseCase] = [
        ParseCase("https://example.com/", "example.com", "/"),
        ParseCase("https://Example.com:8080/a/b?x=1#frag", "example.com", "/a/b", "x=1"),
        ParseCase("https://Example.com:8080/a/b?x=1#frag", hashMode: true, "example.com", "/a/b#frag", "x=1"),
        ParseCase("https://example.com/#/dashboard?tab=2", hashMode: true, "example.com", "/#/dashboard?tab=2"),
        ParseCase("https://example.com/page#", hashMode: true, "example.com", "/page"),
        ParseCase("https://example.com/page#top", "example.com", "/page"),
        ParseCase("http://localhost:3000", "localhost", "/"),
        ParseCase("http://example.com:/x", "example.com", "/x"),
        ParseCase("https://u:p@host/", "host", "/"),
        ParseCase("https://user@WWW.Example.COM/Path/Kept", "www.example.com", "/Path/Kept"),
        ParseCase("https://a@b@host.example/x", "host.example", "/x"),
        ParseCase("http://[::1]:8080/x", "[::1]", "/x"),
        ParseCase("http://[2001:DB8::1]/", "[2001:db8::1]", "/"),
        ParseCase("https://EXAMPLE.ORG", "example.org", "/"),
        ParseCase("https://example.com?q=1", "example.com", "/", "q=1"),
        ParseCase("https://example.com#frag", "example.com", "/"),
        ParseCase("https://example.com/a?b=1&c=%20d#e?f", "example.com", "/a", "b=1&c=%20d"),
        ParseCase("https://example.com/caf%C3%A9/%2F", "example.com", "/caf%C3%A9/%2F"),
        ParseCase("https://example.com/café", "example.com", "/café"),
        ParseCase("app://localhost/login", "localhost", "/login"),
        ParseCase("android-app://com.google.android.gm", "com.google.android.gm", "/"),
        ParseCase("HTTPS://my_host.example/", "my_host.example", "/"),
        ParseCase("  https://example.com/x  ", "example.com", "/x"),
        ParseCase("http://192.168.0.1:80/", "192.168.0.1", "/"),
    ]

    @Test(arguments: parseCases)
    func parsesAbsoluteURLs(_ c: ParseCase) throws {
        let url = try #require(PageURL.parse(c.url, hashMode: c.hashMode))
        #expect(url.hostname == c.hostname)
        #expect(url.path == c.path)
        #expect(url.query == c.query)
    }

    /// A string that is not an absolute URL.
    struct Rejected: Sendable, CustomTestStringConvertible, ExpressibleByStringLiteral {
        let url: String
        var testDescription: String { brief(url) }
        init(_ url: String) { self.url = url }
        init(stringLiteral url: String) { self.url = url }
    }

    static let rejectedURLs: [Rejected] = [
        "",
        "example.com/x",
        "/relative",
        "//example.com/x",
        "javascript:alert(1)",
        "JavaScript://example.com/%0Aalert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "data://example.com/x",
        "http://",
        "http:///path",
        "http:example.com",
        "http:/example.com",
        Rejected("https://" + String(repeating: "a", count: 3000) + ".com/"),
        Rejected("https://example.com/" + String(repeating: "x", count: 3000)),
        "https://example.com/\u{0}",
        "https://example.com/a\nb",
        "https://example.com/\t",
        "https://example.com/\u{7F}",
        "https://example.com/\u{85}",
        "\u{1B}https://example.com/",
        "http://exa mple.com/",
        "http://exa%6Dple.com/",
        "http://exämple.com/",
        "http://example.com\\evil.com/",
        "http://...:80/",
        "http://host:99999/",
        "http://host:80a/",
        "http://host:-1/",
        "http://[::1/",
        "http://[]/",
        "http://[xyz]/",
        "http://[::1]x/",
        "http://u:p@/x",
        "1http://example.com/",
        "ht tp://example.com/",
        Rejected("https://" + String(repeating: "a", count: 300) + "/"),
    ]

    @Test(arguments: rejectedURLs)
    func rejectsWhatIsNotAnAbsoluteURL(_ c: Rejected) {
        #expect(PageURL.parse(c.url) == nil)
    }

    @Test func theSizeLimitIsInBytesAndInclusive() {
        let prefix = "https://example.com/"
        let fits = prefix + String(repeating: "x", count: PageURL.maxBytes - prefix.utf8.count)
        #expect(PageURL.parse(fits)?.path.utf8.count == PageURL.maxBytes - prefix.utf8.count + 1)
        #expect(PageURL.parse(fits + "x") == nil)
        // 1,000 two-byte characters are 2,000 bytes plus the prefix.
        #expect(PageURL.parse(prefix + String(repeating: "é", count: 1000)) == nil)
    }

    @Test func arbitraryBytesNeverCrash() {
        var state: UInt64 = 7
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        let alphabet = Array("hps:/?#@[]%.&=+ aZ09\u{0}\u{7F}é😀-_\\".unicodeScalars)
        for _ in 0..<2000 {
            let length = Int(next() % 40)
            var scalars = String.UnicodeScalarView()
            for _ in 0..<length {
                scalars.append(alphabet[Int(next() % UInt64(alphabet.count))])
            }
            let text = String(scalars)
            for candidate in [text, "https://" + text, "http://h/" + text] {
                if let url = PageURL.parse(candidate) {
                    #expect(url.path.hasPrefix("/"))
                    #expect(!url.hostname.isEmpty)
                    _ = url.queryValue("utm_source")
                }
                _ = TrafficSource.classify(page: PageURL.parse("https://h.example/?" + text), referrer: candidate)
            }
        }
    }

    // MARK: - queryValue

    /// A query, a parameter name, and its decoded value.
    struct QueryCase: Sendable, CustomTestStringConvertible {
        let query: String
        let name: String
        let value: String?
        var testDescription: String { "\(name) in ?\(query)" }
        init(_ query: String, _ name: String, _ value: String?) {
            self.query = query
            self.name = name
            self.value = value
        }
    }

    static let queryCases: [QueryCase] = [
        QueryCase("q=a+b%20c", "q", "a b c"),
        QueryCase("q=%zz", "q", "%zz"),
        QueryCase("q=100%", "q", "100%"),
        QueryCase("q=%4", "q", "%4"),
        QueryCase("q=%4g", "q", "%4g"),
        QueryCase("q=%C3%A9t%C3%A9", "q", "été"),
        QueryCase("q=%FF", "q", "\u{FFFD}"),
        QueryCase("q=first&q=second", "q", "first"),
        QueryCase("q=&q=second", "q", nil),
        QueryCase("q", "q", nil),
        QueryCase("q=", "q", nil),
        QueryCase("utm_source=", "utm_source", nil),
        QueryCase("a=1&b=2", "c", nil),
        QueryCase("", "q", nil),
        QueryCase("&&q=x&&", "q", "x"),
        QueryCase("q=a=b", "q", "a=b"),
        QueryCase("utm%5Fsource=news", "utm_source", "news"),
        QueryCase("Q=x", "q", nil),
        QueryCase("xq=1&q=2", "q", "2"),
        QueryCase("q=%26%3D", "q", "&="),
        QueryCase("q=a%2Bb+c", "q", "a+b c"),
    ]

    @Test(arguments: queryCases)
    func decodesQueryValues(_ c: QueryCase) {
        #expect(PageURL(hostname: "h", query: c.query).queryValue(c.name) == c.value)
    }

    @Test func readsSeveralNamesInOnePassAsEachAlone() {
        // The first parameter of a name decides even when empty; decoded names match too.
        let page = PageURL(hostname: "h", query: "a=&b=1&a=2&%63=3&c=4&d&utm+x=5")
        #expect(page.queryValues(["a", "b", "c", "d", "utm x", "missing"]) == [nil, "1", "3", nil, "5", nil])
    }

    /// The reading before the one-pass scanner: split on `&`, form-decode each name, compare as
    /// `String`s. The scanner must agree with it on every query and name.
    static func referenceValue(_ query: String, _ name: String) -> String? {
        for pair in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = pair.firstIndex(of: UInt8(ascii: "="))
            guard PageURL.formDecode(pair[pair.startIndex..<(equals ?? pair.endIndex)]) == name else { continue }
            let value = equals.map { PageURL.formDecode(pair[pair.index(after: $0)...]) } ?? ""
            return value.isEmpty ? nil : value
        }
        return nil
    }

    @Test func theOnePassScannerAgreesWithSplittingAndDecoding() {
        let queries = [
            "", "&", "&&", "=", "=&=", "&a=1", "a=1&", "&&a=1&&", "a", "a=", "=1&a=2", "a=1&a=2", "%61=1", "a+b=1&a b=2", "a%2Bb=1",
            "%=1&%=2", "%6=1", "a=%ZZ", "e%CC%81=1", "%C3%A9=2", "\u{212A}=3", "K=4", "%E2%84%AA=5", "%FF=6", "utm_source=x&source=y&ref=z",
        ]
        let names = ["a", "", "a b", "a+b", "%", "é", "e\u{301}", "K", "\u{212A}", "\u{FFFD}", "utm_source", "source", "ref"]
        for query in queries {
            let page = PageURL(hostname: "h", query: query)
            #expect(page.queryValues(names) == names.map { Self.referenceValue(query, $0) }, "query \(query)")
        }
    }
}
