/// Display names of well-known search engines, social networks, mail clients and apps, by referrer host.
public enum SourceNames {
    /// Host (or parent domain: every subdomain of a key matches too) → display name; keys are lowercase, no "www.".
    public static let byHost: [String: String] = [
        // Search engines
        "google.com": "Google",
        "com.google.android.googlequicksearchbox": "Google",
        "news.google.com": "Google News",
        "bing.com": "Bing",
        "duckduckgo.com": "DuckDuckGo",
        "yahoo.com": "Yahoo!",
        "yandex.ru": "Yandex",
        "yandex.com": "Yandex",
        "ya.ru": "Yandex",
        "baidu.com": "Baidu",
        "ecosia.org": "Ecosia",
        "search.brave.com": "Brave Search",
        "startpage.com": "Startpage",
        "qwant.com": "Qwant",
        "naver.com": "Naver",
        "seznam.cz": "Seznam",
        "kagi.com": "Kagi",
        // Social networks and communities
        "facebook.com": "Facebook",
        "fb.com": "Facebook",
        "instagram.com": "Instagram",
        "t.co": "Twitter",
        "twitter.com": "Twitter",
        "x.com": "Twitter",
        "linkedin.com": "LinkedIn",
        "lnkd.in": "LinkedIn",
        "com.linkedin.android": "LinkedIn",
        "reddit.com": "Reddit",
        "redd.it": "Reddit",
        "com.reddit.frontpage": "Reddit",
        "youtube.com": "YouTube",
        "youtu.be": "YouTube",
        "pinterest.com": "Pinterest",
        "pin.it": "Pinterest",
        "tiktok.com": "TikTok",
        "news.ycombinator.com": "Hacker News",
        "github.com": "GitHub",
        "stackoverflow.com": "Stack Overflow",
        "wikipedia.org": "Wikipedia",
        "threads.net": "Threads",
        "threads.com": "Threads",
        "bsky.app": "Bluesky",
        "producthunt.com": "Product Hunt",
        "medium.com": "Medium",
        "substack.com": "Substack",
        "quora.com": "Quora",
        "vk.com": "VKontakte",
        // Messengers
        "t.me": "Telegram",
        "telegram.org": "Telegram",
        "org.telegram.messenger": "Telegram",
        "whatsapp.com": "WhatsApp",
        "wa.me": "WhatsApp",
        "slack.com": "Slack",
        "com.slack": "Slack",
        "discord.com": "Discord",
        "discord.gg": "Discord",
        "discordapp.com": "Discord",
        // Mail
        "mail.google.com": "Gmail",
        "com.google.android.gm": "Gmail",
        "outlook.live.com": "Outlook",
        "outlook.office.com": "Outlook",
        "outlook.office365.com": "Outlook",
        "mail.yahoo.com": "Yahoo! Mail",
        // AI assistants
        "chatgpt.com": "ChatGPT",
        "chat.openai.com": "ChatGPT",
        "perplexity.ai": "Perplexity",
        "gemini.google.com": "Gemini",
        "claude.ai": "Claude",
        "copilot.microsoft.com": "Copilot",
    ]

    /// Search engines with a domain per country (`google.de`, `google.co.uk`, `yandex.com.tr`, …), by brand label.
    static let countryBrands: [Substring: String] = [
        "google": "Google",
        "bing": "Bing",
        "yahoo": "Yahoo!",
        "yandex": "Yandex",
    ]

    /// The display name for a referrer host, or nil when it is not a well-known one.
    ///
    /// Tries the host, then each parent domain (`m.facebook.com` → `facebook.com`, `en.wikipedia.org` →
    /// `wikipedia.org`), most specific first, never a bare TLD; then the country domains of `countryBrands`.
    public static func name(forHost host: String) -> String? {
        guard !host.isEmpty, host.utf8.count <= PageURL.maxHostBytes else { return nil }
        var host = host.lowercased()
        if host.hasSuffix(".") { host.removeLast() }

        var candidate = Substring(host)
        while true {
            if let name = byHost[String(candidate)] { return name }
            guard let dot = candidate.firstIndex(of: ".") else { break }
            let parent = candidate[candidate.index(after: dot)...]
            guard parent.contains(".") else { break }
            candidate = parent
        }
        return countryBrandName(host)
    }

    /// `…brand.cc`, `…brand.com`, `…brand.co.cc` or `…brand.com.cc` for a brand of `countryBrands`.
    private static func countryBrandName(_ host: String) -> String? {
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return nil }
        for (offset, label) in labels.enumerated() {
            guard let name = countryBrands[label] else { continue }
            let suffix = labels.dropFirst(offset + 1)
            switch suffix.count {
            case 1:
                if let tld = suffix.first, isLetters(tld, count: 2...3) { return name }
            case 2:
                if let second = suffix.first, let country = suffix.last, second == "co" || second == "com", isLetters(country, count: 2...2) {
                    return name
                }
            default:
                continue
            }
        }
        return nil
    }

    private static func isLetters(_ label: Substring, count: ClosedRange<Int>) -> Bool {
        count.contains(label.utf8.count) && label.utf8.allSatisfy { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }
    }
}
