import Testing

@testable import Shared

/// Page URLs and referrers parsed by hand, and the traffic source a dashboard shows for them.
struct TrafficSourceTests {
    /// A test argument as shown in the log: long ones cut, control characters escaped.
    static func brief(_ text: String) -> String {
        let shown = text.unicodeScalars.count > 60 ? String(String.UnicodeScalarView(text.unicodeScalars.prefix(60))) + "…" : text
        return shown.debugDescription + (text.utf8.count > 60 ? " (\(text.utf8.count) bytes)" : "")
    }

    // MARK: - Source names

    /// A referrer and the source it is shown as.
    struct NameCase: Sendable, CustomTestStringConvertible {
        let referrer: String
        let source: String
        var testDescription: String { "\(brief(referrer)) → \(source)" }
        init(_ referrer: String, _ source: String) {
            self.referrer = referrer
            self.source = source
        }
    }

    static let nameCases: [NameCase] = [
        NameCase("https://www.google.com/", "Google"),
        NameCase("https://google.com/search?q=x", "Google"),
        NameCase("https://www.google.co.uk/", "Google"),
        NameCase("https://www.google.com.br/", "Google"),
        NameCase("https://google.de/", "Google"),
        NameCase("https://news.google.com/articles/x", "Google News"),
        NameCase("https://mail.google.com/mail/u/0/", "Gmail"),
        NameCase("android-app://com.google.android.gm", "Gmail"),
        NameCase("android-app://com.google.android.googlequicksearchbox/https/www.google.com", "Google"),
        NameCase("https://www.bing.com/search?q=x", "Bing"),
        NameCase("https://cn.bing.com/", "Bing"),
        NameCase("https://duckduckgo.com/", "DuckDuckGo"),
        NameCase("https://search.yahoo.com/search?p=x", "Yahoo!"),
        NameCase("https://search.yahoo.co.jp/", "Yahoo!"),
        NameCase("https://yandex.ru/search/?text=x", "Yandex"),
        NameCase("https://yandex.com.tr/", "Yandex"),
        NameCase("https://www.baidu.com/link?url=x", "Baidu"),
        NameCase("https://www.ecosia.org/", "Ecosia"),
        NameCase("https://search.brave.com/search?q=x", "Brave Search"),
        NameCase("https://www.startpage.com/", "Startpage"),
        NameCase("https://www.qwant.com/", "Qwant"),
        NameCase("https://search.naver.com/", "Naver"),
        NameCase("https://www.seznam.cz/", "Seznam"),
        NameCase("https://www.facebook.com/", "Facebook"),
        NameCase("https://m.facebook.com/", "Facebook"),
        NameCase("https://l.facebook.com/l.php?u=x", "Facebook"),
        NameCase("https://lm.facebook.com/", "Facebook"),
        NameCase("https://l.instagram.com/?u=x", "Instagram"),
        NameCase("https://t.co/abc123", "Twitter"),
        NameCase("https://twitter.com/someone", "Twitter"),
        NameCase("https://x.com/someone/status/1", "Twitter"),
        NameCase("https://www.linkedin.com/feed/", "LinkedIn"),
        NameCase("https://lnkd.in/abc", "LinkedIn"),
        NameCase("https://www.reddit.com/r/swift/", "Reddit"),
        NameCase("https://old.reddit.com/", "Reddit"),
        NameCase("https://out.reddit.com/t3_x", "Reddit"),
        NameCase("https://www.youtube.com/watch?v=x", "YouTube"),
        NameCase("https://m.youtube.com/", "YouTube"),
        NameCase("https://www.pinterest.com/", "Pinterest"),
        NameCase("https://www.tiktok.com/", "TikTok"),
        NameCase("https://news.ycombinator.com/item?id=1", "Hacker News"),
        NameCase("https://github.com/owner/repo", "GitHub"),
        NameCase("https://stackoverflow.com/questions/1", "Stack Overflow"),
        NameCase("https://en.wikipedia.org/wiki/Swift", "Wikipedia"),
        NameCase("https://de.m.wikipedia.org/wiki/Swift", "Wikipedia"),
        NameCase("https://www.threads.net/", "Threads"),
        NameCase("https://bsky.app/profile/x", "Bluesky"),
        NameCase("https://t.me/channel", "Telegram"),
        NameCase("https://web.telegram.org/", "Telegram"),
        NameCase("https://web.whatsapp.com/", "WhatsApp"),
        NameCase("https://app.slack.com/client/x", "Slack"),
        NameCase("https://discord.com/channels/1", "Discord"),
        NameCase("https://www.producthunt.com/posts/x", "Product Hunt"),
        NameCase("https://medium.com/@x/post", "Medium"),
        NameCase("https://someone.substack.com/p/x", "Substack"),
        NameCase("https://chatgpt.com/", "ChatGPT"),
        NameCase("https://chat.openai.com/", "ChatGPT"),
        NameCase("https://www.perplexity.ai/", "Perplexity"),
        NameCase("https://outlook.live.com/mail/0/", "Outlook"),
        NameCase("https://GOOGLE.COM./", "Google"),
        // Not a brand, though it looks like one.
        NameCase("https://google.evil.com/", "google.evil.com"),
        NameCase("https://notgoogle.com/", "notgoogle.com"),
        NameCase("https://google.com.evil.net/", "google.com.evil.net"),
        NameCase("https://www.news.example.org/", "news.example.org"),
        NameCase("https://brave.com/", "brave.com"),
    ]

    @Test(arguments: nameCases)
    func namesWellKnownReferrers(_ c: NameCase) {
        let result = TrafficSource.classify(page: PageURL.parse("https://mysite.example/"), referrer: c.referrer)
        #expect(result.source == c.source)
        #expect(result.referrer != nil)
    }

    @Test func theTableLoadsAndIsNormalised() {
        #expect(SourceNames.byHost.count >= 50)
        for (host, name) in SourceNames.byHost {
            #expect(host == host.lowercased() && !host.hasPrefix("www.") && !name.isEmpty, "\(host)")
        }
        #expect(SourceNames.name(forHost: "") == nil)
        #expect(SourceNames.name(forHost: "com") == nil)
        #expect(SourceNames.name(forHost: "google") == nil)
        #expect(SourceNames.name(forHost: String(repeating: "a.", count: 200) + "google.com") == nil)
    }

    // MARK: - Referrer text

    /// A referrer and how it is stored.
    struct ReferrerCase: Sendable, CustomTestStringConvertible {
        let raw: String
        let stored: String?
        var testDescription: String { brief(raw) }
        init(_ raw: String, _ stored: String?) {
            self.raw = raw
            self.stored = stored
        }
    }

    static let referrerCases: [ReferrerCase] = [
        ReferrerCase("https://www.google.com/", "google.com"),
        ReferrerCase("https://www.google.com", "google.com"),
        ReferrerCase("https://news.example.org/a/b/?utm_source=x&q=secret#frag", "news.example.org/a/b"),
        ReferrerCase("https://news.example.org/a//", "news.example.org/a"),
        ReferrerCase("https://news.example.org///", "news.example.org"),
        ReferrerCase("https://user:pw@Blog.Example.com:8443/Post%201?x=1", "blog.example.com/Post%201"),
        ReferrerCase("android-app://com.google.android.gm", "com.google.android.gm"),
        ReferrerCase("http://[::1]:8080/x", "[::1]/x"),
        ReferrerCase("https://www./x", "www/x"),
        ReferrerCase("", nil),
        ReferrerCase("   ", nil),
        ReferrerCase("not a url", nil),
        ReferrerCase("google.com", nil),
        ReferrerCase("javascript:alert(1)", nil),
        ReferrerCase("https://exa mple.com/", nil),
        ReferrerCase("\u{0}\u{1}\u{2}", nil),
        ReferrerCase("https://news.example.org/" + String(repeating: "a", count: 10_000), nil),
        ReferrerCase(String(repeating: "https://", count: 1500), nil),
    ]

    @Test(arguments: referrerCases)
    func storesReferrerHostAndPath(_ c: ReferrerCase) {
        let result = TrafficSource.classify(page: PageURL.parse("https://mysite.example/"), referrer: c.raw)
        #expect(result.referrer == c.stored)
        if c.stored == nil { #expect(result.source == TrafficSource.direct) }
        #expect((result.referrer?.utf8.count ?? 0) <= PageURL.maxBytes)
    }

    // MARK: - Source rules

    /// A page, a referrer, and the source and referrer they give.
    struct SourceCase: Sendable, CustomTestStringConvertible {
        let page: String?
        let referrer: String?
        let source: String
        let stored: String?
        let note: String
        var testDescription: String { note }
        init(_ note: String, page: String?, referrer: String?, _ source: String, _ stored: String?) {
            self.note = note
            self.page = page
            self.referrer = referrer
            self.source = source
            self.stored = stored
        }
    }

    static let sourceCases: [SourceCase] = [
        SourceCase("nothing", page: "https://site.example/", referrer: nil, "Direct / None", nil),
        SourceCase("empty referrer", page: "https://site.example/", referrer: "", "Direct / None", nil),
        SourceCase("no page", page: nil, referrer: "https://t.co/x", "Twitter", "t.co/x"),
        SourceCase("no page, nothing", page: nil, referrer: nil, "Direct / None", nil),
        SourceCase("unknown host", page: "https://site.example/", referrer: "https://blog.other.example/post", "blog.other.example", "blog.other.example/post"),
        SourceCase("unknown host without www", page: "https://site.example/", referrer: "https://www.other.example/", "other.example", "other.example"),
        SourceCase("utm_source over referrer", page: "https://site.example/?utm_source=newsletter", referrer: "https://www.google.com/", "newsletter", "google.com"),
        SourceCase("utm_source without referrer", page: "https://site.example/?utm_source=newsletter", referrer: nil, "newsletter", nil),
        SourceCase("source param", page: "https://site.example/?source=producthunt", referrer: "https://t.co/x", "producthunt", "t.co/x"),
        SourceCase("ref param", page: "https://site.example/?ref=github-readme", referrer: nil, "github-readme", nil),
        SourceCase("utm_source over source over ref", page: "https://site.example/?ref=c&source=b&utm_source=a", referrer: nil, "a", nil),
        SourceCase("source over ref", page: "https://site.example/?ref=c&source=b", referrer: nil, "b", nil),
        SourceCase("empty utm_source falls through", page: "https://site.example/?utm_source=&ref=hn", referrer: nil, "hn", nil),
        SourceCase("blank utm_source falls through", page: "https://site.example/?utm_source=+%20+&source=x", referrer: nil, "x", nil),
        SourceCase("decoded and trimmed", page: "https://site.example/?utm_source=+My+Newsletter%0A+", referrer: nil, "My Newsletter", nil),
        SourceCase("ref in fragment is not a param", page: "https://site.example/#?ref=x", referrer: nil, "Direct / None", nil),
        SourceCase("internal referrer", page: "https://site.example/b", referrer: "https://site.example/a", "Direct / None", nil),
        SourceCase("internal referrer, www on referrer", page: "https://site.example/b", referrer: "https://www.site.example/a", "Direct / None", nil),
        SourceCase("internal referrer, www on page", page: "https://www.site.example/b", referrer: "https://SITE.example:443/a", "Direct / None", nil),
        SourceCase("internal referrer, trailing dot", page: "https://site.example./b", referrer: "https://www.site.example/a", "Direct / None", nil),
        SourceCase("internal referrer with utm_source", page: "https://site.example/?utm_source=mail", referrer: "https://site.example/a", "mail", nil),
        SourceCase("subdomain is not internal", page: "https://site.example/", referrer: "https://docs.site.example/", "docs.site.example", "docs.site.example"),
        SourceCase("garbage referrer", page: "https://site.example/", referrer: "}{%%%garbage\u{FFFD}", "Direct / None", nil),
        SourceCase("garbage referrer with ref", page: "https://site.example/?ref=x", referrer: "garbage", "x", nil),
        SourceCase("10 KB referrer", page: "https://site.example/", referrer: "https://www.google.com/?" + String(repeating: "q", count: 10_240), "Direct / None", nil),
    ]

    @Test(arguments: sourceCases)
    func appliesTheSourceRules(_ c: SourceCase) {
        let page = c.page.flatMap { PageURL.parse($0) }
        if c.page != nil { #expect(page != nil) }
        let result = TrafficSource.classify(page: page, referrer: c.referrer)
        #expect(result.source == c.source)
        #expect(result.referrer == c.stored)
    }

    // MARK: - UTM

    @Test func readsTheFiveUTMParameters() throws {
        let page = try #require(PageURL.parse(
            "https://site.example/p?utm_medium=email&utm_source=news+letter&utm_campaign=spring%20sale"
                + "&utm_content=%20%20&utm_term=caf%C3%A9&utm_source=ignored"))
        let result = TrafficSource.classify(page: page, referrer: "https://www.google.com/")
        #expect(result.utm == UTM(medium: "email", source: "news letter", campaign: "spring sale", content: nil, term: "café"))
        #expect(result.source == "news letter")
        #expect(result.referrer == "google.com")
    }

    @Test func noPageMeansNoUTM() {
        #expect(TrafficSource.classify(page: nil, referrer: nil) == TrafficSource(source: "Direct / None", referrer: nil, utm: UTM()))
    }

    /// A raw value and what is kept of it.
    struct CleanCase: Sendable, CustomTestStringConvertible {
        let raw: String
        let kept: String?
        var testDescription: String { brief(raw) }
        init(_ raw: String, _ kept: String?) {
            self.raw = raw
            self.kept = kept
        }
    }

    static let cleanCases: [CleanCase] = [
        CleanCase("plain", "plain"),
        CleanCase("  padded \t", "padded"),
        CleanCase("a\u{0}b\u{1B}c\u{7F}d\u{85}e", "abcde"),
        CleanCase("\u{0}\u{1}", nil),
        CleanCase("", nil),
        CleanCase(" \u{A0}\u{3000} ", nil),
        CleanCase(String(repeating: "x", count: 300), String(repeating: "x", count: 256)),
        CleanCase(String(repeating: "é", count: 200), String(repeating: "é", count: 128)),
        CleanCase("x" + String(repeating: "é", count: 200), "x" + String(repeating: "é", count: 127)),
        CleanCase(String(repeating: "x", count: 255) + " y", String(repeating: "x", count: 255)),
        CleanCase(String(repeating: "😀", count: 100), String(repeating: "😀", count: 64)),
        // At the edges of the printable-ASCII fast path.
        CleanCase(String(repeating: "x", count: 256), String(repeating: "x", count: 256)),
        CleanCase(String(repeating: "x", count: 257), String(repeating: "x", count: 256)),
        CleanCase("a ", "a"), CleanCase(" a", "a"), CleanCase("a b", "a b"), CleanCase("~", "~"), CleanCase(" ", nil),
        CleanCase("a\u{7F}", "a"), CleanCase("a\u{1F}b", "ab"),
    ]

    @Test(arguments: cleanCases)
    func cleansParameterValues(_ c: CleanCase) {
        #expect(TrafficSource.clean(c.raw) == c.kept)
        if let kept = TrafficSource.clean(c.raw) { #expect(kept.utf8.count <= TrafficSource.maxValueBytes) }
    }

    @Test func longUTMValuesAreCutToTheLimit() throws {
        let page = try #require(PageURL.parse("https://site.example/?utm_campaign=" + String(repeating: "%C3%A9", count: 300)))
        let campaign = try #require(TrafficSource.classify(page: page, referrer: nil).utm.campaign)
        #expect(campaign == String(repeating: "é", count: 128))
    }
}
