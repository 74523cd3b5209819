// The ordered tables the user-agent classifier reads (UserAgent.swift holds the matching):
// adding a browser, a system or a bot is one line here.

// MARK: - Tables

extension UserAgentClassifier {
    /// Where a rule reads its version number.
    enum VersionSource: Sendable {
        /// The rule gives no version.
        case noVersion
        /// Right after the rule's own token ("chrome/" → "120.0").
        case afterToken
        /// Right after another token, e.g. Safari's "version/".
        case after(String)
        /// After "windows nt ", turned into the release name ("6.1" → "7").
        case windowsNT
    }

    /// One row of the browser or system table: the first row whose token is present (with all of
    /// `requires` and none of `excludes`) names the browser or system.
    struct Rule: Sendable {
        /// Lowercase token to find.
        let token: String
        /// The name reported.
        let name: String
        /// Where the version is.
        let version: VersionSource
        /// Tokens that must also be present.
        let requires: [String]
        /// Tokens that must be absent.
        let excludes: [String]

        /// A row; see the properties.
        init(_ token: String, _ name: String, _ version: VersionSource = .noVersion, requires: [String] = [], excludes: [String] = []) {
            self.token = token
            self.name = name
            self.version = version
            self.requires = requires
            self.excludes = excludes
        }
    }

    /// One row of the device table: the first row whose token is present (and none of `excludes`) decides.
    struct DeviceRule: Sendable {
        /// Lowercase token to find.
        let token: String
        /// The kind reported.
        let kind: DeviceKind
        /// Tokens that must be absent.
        let excludes: [String]

        /// A row; see the properties.
        init(_ token: String, _ kind: DeviceKind, excludes: [String] = []) {
            self.token = token
            self.kind = kind
            self.excludes = excludes
        }
    }

    /// Browsers, most specific first. In-app browsers wrap a WebView whose user agent also says
    /// Safari or Chrome, and Chromium/WebKit derivatives append their own token, so both come
    /// before Chrome, the Android WebView and Safari. Names follow Plausible's dashboards.
    static let browserRules: [Rule] = [
        // In-app browsers: the app's own version when its token carries one, else "".
        Rule("instagram ", "Instagram", .afterToken),
        Rule("fban/", "Facebook", .after("fbav/")),
        Rule("fb_iab/", "Facebook", .after("fbav/")),
        Rule("fbav/", "Facebook", .afterToken),
        Rule("musical_ly", "TikTok", .after("app_version/"), requires: ["app_version/"]),  // Android: "app_version/32.5.3"
        Rule("musical_ly_", "TikTok", .afterToken),  // iOS: "musical_ly_32.5.0"
        Rule("bytedancewebview", "TikTok", .after("app_version/")),
        Rule("tiktok", "TikTok", .after("app_version/")),
        Rule("snapchat", "Snapchat", .afterToken),
        Rule("linkedinapp", "LinkedIn", .afterToken),  // "[LinkedInApp]/9.29.2346"
        Rule("pinterest", "Pinterest", .afterToken),  // "[Pinterest/iOS]": no version
        Rule("twitter for iphone", "Twitter", .afterToken),
        Rule("twitter for ipad", "Twitter", .afterToken),
        Rule("twitterandroid", "Twitter", .afterToken),
        Rule("micromessenger/", "WeChat", .afterToken),
        Rule("gsa/", "Google App", .afterToken),
        // Browsers that say who they are next to a Chrome, Safari or Firefox token.
        Rule("edg/", "Microsoft Edge", .afterToken),
        Rule("edga/", "Microsoft Edge", .afterToken),
        Rule("edgios/", "Microsoft Edge", .afterToken),
        Rule("edge/", "Microsoft Edge", .afterToken),  // EdgeHTML, before Chromium
        Rule("opera mini/", "Opera", .afterToken),
        Rule("opr/", "Opera", .afterToken),
        Rule("opt/", "Opera", .afterToken),  // Opera Touch for iOS
        Rule("opera", "Opera", .after("version/"), requires: ["version/"]),  // Presto: "Opera/9.80 … Version/12.16"
        Rule("opera", "Opera", .afterToken),
        Rule("samsungbrowser/", "Samsung Internet", .afterToken),
        Rule("yabrowser/", "Yandex Browser", .afterToken),
        Rule("ucbrowser/", "UC Browser", .afterToken),
        Rule("ubrowser/", "UC Browser", .afterToken),
        Rule("ucweb", "UC Browser"),
        Rule("vivaldi/", "Vivaldi", .afterToken),
        Rule("brave", "Brave", .after("brave/")),  // only when the user agent says so; Brave usually sends Chrome's
        Rule("duckduckgo/", "DuckDuckGo Privacy Browser", .afterToken),
        Rule("huaweibrowser/", "Huawei Browser", .afterToken),
        Rule("miuibrowser/", "MIUI Browser", .afterToken),
        Rule("silk/", "Amazon Silk", .afterToken),
        Rule("firefox/", "Firefox", .afterToken),
        Rule("fxios/", "Firefox", .afterToken),
        Rule("msie ", "Internet Explorer", .afterToken),
        Rule("trident/", "Internet Explorer", .after("rv:")),  // IE 11: "Trident/7.0; rv:11.0"
        // The Android System WebView inside an unknown app.
        Rule("; wv)", "Chrome Webview", .after("chrome/"), requires: ["android"]),
        Rule("chromium/", "Chromium", .afterToken),
        Rule("chrome/", "Chrome", .afterToken),
        Rule("crios/", "Chrome", .afterToken),
        Rule("safari/", "Safari", .after("version/"), requires: ["version/"], excludes: ["chrome", "android"]),
        Rule("android", "Android Browser", .after("version/"), requires: ["version/", "safari/"]),
    ]

    /// Operating systems, most specific first: Windows Phone, HarmonyOS and KaiOS also say
    /// "Android", Chrome OS says "X11", iOS says "like Mac OS X", Android says "Linux".
    static let systemRules: [Rule] = [
        Rule("windows phone", "Windows Phone", .afterToken),
        Rule("windows nt", "Windows", .windowsNT),  // Windows 11 still sends "NT 10.0": it reads "10"
        Rule("windows", "Windows"),
        Rule("openharmony", "HarmonyOS", .afterToken),
        Rule("harmonyos", "HarmonyOS", .afterToken),
        Rule("kaios", "KaiOS", .afterToken),
        Rule("; cros ", "Chrome OS"),  // "CrOS x86_64 14541.0.0" is a platform build, not a release: no version
        Rule("android", "Android", .afterToken),
        Rule("ipad", "iPadOS", .after("cpu os")),
        Rule("iphone", "iOS", .after("iphone os")),
        Rule("ipod", "iOS", .after("iphone os")),
        // iPadOS 13+ Safari asks for desktop sites with a Macintosh user agent: such iPads are
        // counted as Mac desktops, nothing in the string tells them apart. macOS 11+ Safari and
        // Chrome freeze the version at "10_15_7", so Mac versions stop at "10.15".
        Rule("mac os x", "Mac", .afterToken),
        Rule("macintosh", "Mac"),
        Rule("tizen", "Tizen", .afterToken),
        Rule("freebsd", "FreeBSD"),
        Rule("linux", "GNU/Linux"),
        Rule("ubuntu", "GNU/Linux"),
        Rule("fedora", "GNU/Linux"),
        Rule("x11", "GNU/Linux"),
    ]

    /// Device kinds, first match wins; desktop when none matches.
    static let deviceRules: [DeviceRule] = [
        // TVs and streaming sticks run Android without "Mobile" but are not tablets.
        DeviceRule("smart-tv", .desktop),
        DeviceRule("smarttv", .desktop),
        DeviceRule("android tv", .desktop),
        DeviceRule("googletv", .desktop),
        DeviceRule("bravia", .desktop),
        DeviceRule("crkey", .desktop),  // Chromecast
        DeviceRule("; aft", .desktop),  // Fire TV models: AFTMM, AFTKA …
        // Tablets, before "Mobile": iPads say "Mobile/15E148".
        DeviceRule("ipad", .tablet),
        DeviceRule("tablet", .tablet, excludes: ["tablet pc"]),  // "Tablet PC 2.0" is any Windows touch laptop
        DeviceRule("kindle", .tablet),
        DeviceRule("silk/", .tablet),
        DeviceRule("; kf", .tablet),  // Fire tablets: KFTRWI, KFMAWI …
        DeviceRule("iphone", .mobile),
        DeviceRule("ipod", .mobile),
        DeviceRule("windows phone", .mobile),
        DeviceRule("kaios", .mobile),
        DeviceRule("mobi", .mobile),  // "Mobile" and Opera's "Mobi"
        DeviceRule("opera mini", .mobile),
        DeviceRule("(phone;", .mobile),  // HarmonyOS NEXT: "(Phone; OpenHarmony 4.1)"
        // Android without "Mobile" is a tablet, by Google's own convention.
        DeviceRule("android", .tablet),
    ]

    /// Windows NT versions and the release names dashboards show.
    static let windowsReleases: [(nt: String, name: String)] = [
        ("10.0", "10"), ("6.3", "8.1"), ("6.2", "8"), ("6.1", "7"), ("6.0", "Vista"), ("5.2", "XP"), ("5.1", "XP"),
    ]

    /// A token whose presence marks a user agent as automated.
    struct BotPattern: Sendable {
        /// Lowercase token to find.
        let token: String
        /// The byte after the token must not be an ASCII letter ("bot/", "bot;", "bot" at the end, not "bottle").
        let wordEnd: Bool
        /// The token does not count right after these lowercase bytes ("cu" + "bot": the CUBOT phone brand).
        let notAfter: String

        /// A row; see the properties.
        init(_ token: String, wordEnd: Bool = false, notAfter: String = "") {
            self.token = token
            self.wordEnd = wordEnd
            self.notAfter = notAfter
        }
    }

    /// Tokens of crawlers, bots, monitors, link-preview fetchers and automated browsers.
    ///
    /// Deliberately NOT bots: generic HTTP clients (curl, Wget, python-requests, Python-urllib,
    /// Go-http-client, okhttp, node-fetch, axios, Java, libwww-perl, Postman). Server-side clients
    /// of `/event` legitimately send events with them (the seed sample uses curl); whoever wants
    /// to drop them decides that separately. Scrapy, in contrast, is a crawling framework: a bot.
    /// Empty user agents are not bots here either; the caller decides about those.
    ///
    /// "bot" alone catches most crawlers (googlebot, bingbot, yandexbot, duckduckbot, applebot,
    /// amazonbot, ahrefsbot, semrushbot, mj12bot, dotbot, petalbot, gptbot, ccbot, claudebot,
    /// perplexitybot, twitterbot, linkedinbot, slackbot, discordbot, telegrambot, pinterestbot,
    /// redditbot, facebot, "Pingdom.com_bot", "UptimeRobot" …), so those need no row of their own.
    /// It must end a word, so "bottle" does not count, and must not follow "cu": CUBOT is an
    /// Android phone brand ("Android 10; CUBOT X30"). "Robot" does count: no browser or phone
    /// sends it, while UptimeRobot and robots.txt-style URLs do. The user-agent strings of real
    /// browsers contain none of the other tokens.
    ///
    /// Not used: "+http" (bots put a contact URL in their user agent, but so may a server-side
    /// client of our API), "yandex" alone (the Yandex search app is a real browser; its crawlers
    /// say YandexBot, YandexImages …), "twitter"/"linkedin"/"pinterest"/"snapchat" alone (in-app
    /// browsers of real people).
    static let botPatterns: [BotPattern] = [
        BotPattern("bot", wordEnd: true, notAfter: "cu"),
        // Crawlers and archivers.
        BotPattern("crawl"), BotPattern("spider"), BotPattern("slurp"), BotPattern("scrapy"), BotPattern("archiver"),
        BotPattern("fetcher"), BotPattern("nutch"), BotPattern("heritrix"), BotPattern("httrack"), BotPattern("yeti/"),
        BotPattern("daumoa"), BotPattern("qwantify"), BotPattern("favicon"), BotPattern("yandeximages"),
        BotPattern("yandexmetrika"), BotPattern("yandexwebmaster"), BotPattern("mediapartners"),
        // Google's fetchers are "Google-InspectionTool", "AdsBot-Google", "APIs-Google", "GoogleOther" …
        BotPattern("google-"), BotPattern("-google"), BotPattern("googleother"),
        // SEO tools.
        BotPattern("ahrefs"), BotPattern("semrush"),
        // AI crawlers and assistants fetching on behalf of a chat.
        BotPattern("chatgpt"), BotPattern("claude"), BotPattern("anthropic"), BotPattern("perplexity"),
        BotPattern("cohere-ai"), BotPattern("mistralai"), BotPattern("meta-external"),
        // Link-preview fetchers.
        BotPattern("preview"), BotPattern("facebookexternalhit"), BotPattern("facebookcatalog"), BotPattern("embedly"),
        BotPattern("iframely"), BotPattern("whatsapp/"), BotPattern("vkshare"), BotPattern("mastodon"),
        // Headless and automated browsers.
        BotPattern("headless"), BotPattern("phantomjs"), BotPattern("slimerjs"), BotPattern("jsdom"),
        BotPattern("puppeteer"), BotPattern("playwright"), BotPattern("selenium"), BotPattern("webdriver"),
        BotPattern("cypress"),
        // Performance tools and uptime monitors.
        BotPattern("lighthouse"), BotPattern("page speed"), BotPattern("pagespeed"), BotPattern("gtmetrix"),
        BotPattern("ptst/"), BotPattern("pingdom"), BotPattern("uptime"), BotPattern("statuscake"),
        BotPattern("monitor"), BotPattern("site24x7"), BotPattern("pinger"), BotPattern("nagios"),
        BotPattern("check_http"), BotPattern("zabbix"), BotPattern("datadog"), BotPattern("checkly"),
        BotPattern("validator"), BotPattern("checklink"),
        // Scanners.
        BotPattern("zgrab"), BotPattern("masscan"), BotPattern("nmap"), BotPattern("nikto"), BotPattern("sqlmap"),
        BotPattern("censys"),
    ]
}
