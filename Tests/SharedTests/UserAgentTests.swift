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

    /// Real browsers, in-app browsers and WebViews.
    static let browsers: [Case] = [
        // Chrome, desktop.
        Case("Chrome Windows 10", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
             "Chrome", "120.0", "Windows", "10", .desktop),
        Case("Chrome Windows 7", "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36",
             "Chrome", "109.0", "Windows", "7", .desktop),
        Case("Chrome Windows 8.1", "Mozilla/5.0 (Windows NT 6.3; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36",
             "Chrome", "109.0", "Windows", "8.1", .desktop),
        Case("Chrome Windows 8", "Mozilla/5.0 (Windows NT 6.2; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/49.0.2623.112 Safari/537.36",
             "Chrome", "49.0", "Windows", "8", .desktop),
        Case("Chrome Mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
             "Chrome", "120.0", "Mac", "10.15", .desktop),
        Case("Chrome Linux", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
             "Chrome", "120.0", "GNU/Linux", "", .desktop),
        Case("Chrome OS", "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
             "Chrome", "120.0", "Chrome OS", "", .desktop),
        Case("Chromium Ubuntu", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Ubuntu Chromium/79.0.3945.79 Chrome/79.0.3945.79 Safari/537.36",
             "Chromium", "79.0", "GNU/Linux", "", .desktop),
        // Chrome, mobile.
        Case("Chrome Android phone (reduced UA)", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
             "Chrome", "120.0", "Android", "10", .mobile),
        Case("Chrome Android tablet (reduced UA)", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
             "Chrome", "120.0", "Android", "10", .tablet),
        Case("Chrome Android 8.0.0 Galaxy S9", "Mozilla/5.0 (Linux; Android 8.0.0; SM-G960F Build/R16NW) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/62.0.3202.84 Mobile Safari/537.36",
             "Chrome", "62.0", "Android", "8.0", .mobile),
        Case("Chrome Android Pixel 8 Pro", "Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
             "Chrome", "120.0", "Android", "14", .mobile),
        Case("Chrome Android CUBOT phone", "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
             "Chrome", "120.0", "Android", "10", .mobile),
        Case("Chrome Android Cubot build", "Mozilla/5.0 (Linux; Android 9; Cubot P40 Build/PPR1.180610.011) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/110.0.5481.153 Mobile Safari/537.36",
             "Chrome", "110.0", "Android", "9", .mobile),
        Case("Chrome iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
             "Chrome", "120.0", "iOS", "17.1", .mobile),
        Case("Chrome iPad", "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
             "Chrome", "120.0", "iPadOS", "17.1", .tablet),
        Case("Android TV (Bravia)", "Mozilla/5.0 (Linux; Android 9; BRAVIA 4K GB ATV3 Build/PTT1.190515.001.S52) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.5414.117 Safari/537.36",
             "Chrome", "109.0", "Android", "9", .desktop),
        // Safari.
        Case("Safari Mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
             "Safari", "17.1", "Mac", "10.15", .desktop),
        Case("Safari Mac High Sierra", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.2 Safari/605.1.15",
             "Safari", "13.1", "Mac", "10.13", .desktop),
        Case("Safari iPhone iOS 17", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
             "Safari", "17.1", "iOS", "17.1", .mobile),
        Case("Safari iPhone iOS 16", "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
             "Safari", "16.6", "iOS", "16.6", .mobile),
        Case("Safari iPhone iOS 18", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
             "Safari", "18.1", "iOS", "18.1", .mobile),
        Case("Safari iPad", "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
             "Safari", "17.1", "iPadOS", "17.1", .tablet),
        Case("Safari iPad iOS 12", "Mozilla/5.0 (iPad; CPU OS 12_5_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1.2 Mobile/15E148 Safari/604.1",
             "Safari", "12.1", "iPadOS", "12.5", .tablet),
        // iPadOS 13+ asks for desktop sites as a Mac: indistinguishable, counted as a Mac desktop.
        Case("Safari iPad desktop mode", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Safari/605.1.15",
             "Safari", "16.6", "Mac", "10.15", .desktop),
        Case("Safari iPod touch", "Mozilla/5.0 (iPod touch; CPU iPhone OS 15_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6.6 Mobile/15E148 Safari/604.1",
             "Safari", "15.6", "iOS", "15.7", .mobile),
        Case("Unknown iOS app WebView", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
             "", "", "iOS", "17.1", .mobile),
        // Firefox.
        Case("Firefox Ubuntu", "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
             "Firefox", "121.0", "GNU/Linux", "", .desktop),
        Case("Firefox Fedora", "Mozilla/5.0 (X11; Fedora; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
             "Firefox", "120.0", "GNU/Linux", "", .desktop),
        Case("Firefox Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
             "Firefox", "121.0", "Windows", "10", .desktop),
        Case("Firefox Windows XP", "Mozilla/5.0 (Windows NT 5.1; rv:52.0) Gecko/20100101 Firefox/52.0",
             "Firefox", "52.0", "Windows", "XP", .desktop),
        Case("Firefox Mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0",
             "Firefox", "121.0", "Mac", "10.15", .desktop),
        Case("Firefox FreeBSD", "Mozilla/5.0 (X11; FreeBSD amd64; rv:109.0) Gecko/20100101 Firefox/115.0",
             "Firefox", "115.0", "FreeBSD", "", .desktop),
        Case("Firefox Android phone", "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
             "Firefox", "121.0", "Android", "14", .mobile),
        Case("Firefox Android tablet", "Mozilla/5.0 (Android 13; Tablet; rv:121.0) Gecko/121.0 Firefox/121.0",
             "Firefox", "121.0", "Android", "13", .tablet),
        Case("Firefox iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15",
             "Firefox", "121.0", "iOS", "17.1", .mobile),
        // Edge.
        Case("Edge Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
             "Microsoft Edge", "120.0", "Windows", "10", .desktop),
        Case("Edge Mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
             "Microsoft Edge", "120.0", "Mac", "10.15", .desktop),
        Case("Edge Xbox", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
             "Microsoft Edge", "120.0", "Windows", "10", .desktop),
        Case("Edge Android", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 EdgA/120.0.2210.115",
             "Microsoft Edge", "120.0", "Android", "10", .mobile),
        Case("Edge iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 EdgiOS/120.0.2210.126 Mobile/15E148 Safari/605.1.15",
             "Microsoft Edge", "120.0", "iOS", "17.1", .mobile),
        Case("Edge legacy (EdgeHTML)", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19041",
             "Microsoft Edge", "18.19041", "Windows", "10", .desktop),
        Case("Edge Windows Phone", "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.15063",
             "Microsoft Edge", "15.15063", "Windows Phone", "10.0", .mobile),
        // Internet Explorer.
        Case("IE 11 Windows 10", "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
             "Internet Explorer", "11.0", "Windows", "10", .desktop),
        Case("IE 11 Windows 7", "Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko",
             "Internet Explorer", "11.0", "Windows", "7", .desktop),
        Case("IE 11 touch laptop (Tablet PC)", "Mozilla/5.0 (Windows NT 6.3; WOW64; Trident/7.0; Touch; .NET4.0C; .NET4.0E; Tablet PC 2.0; rv:11.0) like Gecko",
             "Internet Explorer", "11.0", "Windows", "8.1", .desktop),
        Case("IE 10", "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; Trident/6.0)",
             "Internet Explorer", "10.0", "Windows", "8", .desktop),
        // Opera.
        Case("Opera Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0",
             "Opera", "105.0", "Windows", "10", .desktop),
        Case("Opera Android", "Mozilla/5.0 (Linux; Android 10; VOG-L29) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36 OPR/79.2.4195.76415",
             "Opera", "79.2", "Android", "10", .mobile),
        Case("Opera Mini", "Opera/9.80 (Android; Opera Mini/36.2.2254/119.132; U; id) Presto/2.12.423 Version/12.16",
             "Opera", "36.2", "Android", "", .mobile),
        Case("Opera Presto", "Opera/9.80 (Windows NT 6.1; WOW64) Presto/2.12.388 Version/12.18",
             "Opera", "12.18", "Windows", "7", .desktop),
        Case("Opera Touch iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1 OPT/4.3.2",
             "Opera", "4.3", "iOS", "17.1", .mobile),
        // Other Chromium and WebKit browsers.
        Case("Samsung Internet phone", "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
             "Samsung Internet", "23.0", "Android", "13", .mobile),
        Case("Samsung Internet tablet", "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Safari/537.36",
             "Samsung Internet", "23.0", "Android", "13", .tablet),
        Case("Yandex Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 YaBrowser/23.11.0.0 Safari/537.36",
             "Yandex Browser", "23.11", "Windows", "10", .desktop),
        Case("Yandex Android", "Mozilla/5.0 (Linux; Android 12; M2101K6G) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.5993.118 YaBrowser/23.11.3.63.00 SA/3 Mobile Safari/537.36",
             "Yandex Browser", "23.11", "Android", "12", .mobile),
        Case("Yandex iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 YaBrowser/23.11.6.429.10 SA/3 Mobile/15E148 Safari/604.1",
             "Yandex Browser", "23.11", "iOS", "17.1", .mobile),
        Case("UC Browser Android", "Mozilla/5.0 (Linux; U; Android 10; en-US; RMX1911 Build/QKQ1.200209.002) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/100.0.4896.58 UCBrowser/13.4.0.1306 Mobile Safari/537.36",
             "UC Browser", "13.4", "Android", "10", .mobile),
        Case("Vivaldi Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Vivaldi/6.5.3206.48",
             "Vivaldi", "6.5", "Windows", "10", .desktop),
        Case("Brave Android (says Brave)", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Brave Chrome/83.0.4103.116 Mobile Safari/537.36",
             "Brave", "", "Android", "10", .mobile),
        Case("DuckDuckGo iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 DuckDuckGo/7 Safari/605.1.15",
             "DuckDuckGo Privacy Browser", "7", "iOS", "17.1", .mobile),
        Case("DuckDuckGo Android", "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.144 Mobile DuckDuckGo/5 Safari/537.36",
             "DuckDuckGo Privacy Browser", "5", "Android", "14", .mobile),
        Case("MIUI Browser", "Mozilla/5.0 (Linux; U; Android 13; zh-cn; 22081212C Build/TKQ1.220829.002) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/109.0.5414.118 Mobile Safari/537.36 XiaoMi/MiuiBrowser/17.7.130711",
             "MIUI Browser", "17.7", "Android", "13", .mobile),
        Case("Android stock browser", "Mozilla/5.0 (Linux; U; Android 4.0.3; ko-kr; LG-L160L Build/IML74K) AppleWebkit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
             "Android Browser", "4.0", "Android", "4.0", .mobile),
        Case("Kindle Fire Silk", "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/120.3.1 like Chrome/120.0.6099.230 Safari/537.36",
             "Amazon Silk", "120.3", "Android", "9", .tablet),
        Case("Google app iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) GSA/297.0.595495279 Mobile/15E148 Safari/604.1",
             "Google App", "297.0", "iOS", "17.1", .mobile),
        // Feature phones and other systems.
        Case("KaiOS 2.5 JioPhone", "Mozilla/5.0 (Mobile; LYF/F300B/LYF-F300B-001-01-15-130718-i; Android; rv:48.0) Gecko/48.0 Firefox/48.0 KAIOS/2.5",
             "Firefox", "48.0", "KaiOS", "2.5", .mobile),
        Case("KaiOS 3", "Mozilla/5.0 (Mobile; rv:84.0) Gecko/84.0 Firefox/84.0 KAIOS/3.0",
             "Firefox", "84.0", "KaiOS", "3.0", .mobile),
        Case("HarmonyOS Huawei Browser", "Mozilla/5.0 (Linux; Android 12; HarmonyOS; NOH-AN00; HMSCore 6.13.0.302) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.5735.196 HuaweiBrowser/14.0.5.301 Mobile Safari/537.36",
             "Huawei Browser", "14.0", "HarmonyOS", "", .mobile),
        Case("HarmonyOS NEXT phone", "Mozilla/5.0 (Phone; OpenHarmony 4.1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36 ArkWeb/4.1.6.1 Mobile ",
             "Chrome", "114.0", "HarmonyOS", "4.1", .mobile),
        Case("Samsung Tizen TV", "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/6.0 TV Safari/537.36",
             "", "", "Tizen", "6.0", .desktop),
        // WebViews and in-app browsers.
        Case("Android WebView", "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230901.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.144 Mobile Safari/537.36",
             "Chrome Webview", "120.0", "Android", "13", .mobile),
        Case("Facebook iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/444.0.0.41.110;FBBV/537204137;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.1.2;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5;FBRV/539418307]",
             "Facebook", "444.0", "iOS", "17.1", .mobile),
        Case("Facebook Android", "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.144 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/444.0.0.33.118;]",
             "Facebook", "444.0", "Android", "14", .mobile),
        Case("Facebook iPad", "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/440.0.0.28.106;FBBV/531143012;FBDV/iPad13,1;FBMD/iPad;FBSN/iPadOS;FBSV/16.6;FBSS/2;FBID/tablet;FBLC/en_US;FBOP/5;FBRV/0]",
             "Facebook", "440.0", "iPadOS", "16.6", .tablet),
        Case("Instagram iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 311.0.2.23.111 (iPhone14,5; iOS 17_1_2; en_US; en; scale=3.00; 1170x2532; 548339486)",
             "Instagram", "311.0", "iOS", "17.1", .mobile),
        Case("Instagram Android", "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/UD1A.231105.004; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.43 Mobile Safari/537.36 Instagram 309.1.0.41.113 Android (34/14; 420dpi; 1080x2205; Google/google; Pixel 8; shiba; shiba; en_US; 541635890)",
             "Instagram", "309.1", "Android", "14", .mobile),
        Case("TikTok iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 musical_ly_32.5.0 JsSdk/2.0 NetType/WIFI Channel/App Store ByteLocale/en Region/US RevealType/Dialog isDarkMode/0 WKWebView/1 BytedanceWebview/d8a21c6 FalconTag/",
             "TikTok", "32.5", "iOS", "17.1", .mobile),
        Case("TikTok Android", "Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.193 Mobile Safari/537.36 trill_320503 BytedanceWebview/d8a21c6",
             "TikTok", "", "Android", "13", .mobile),
        Case("TikTok Android (app_version)", "Mozilla/5.0 (Linux; Android 12; 2201117TY Build/SKQ1.211103.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.163 Mobile Safari/537.36 musical_ly_2023205030 JsSdk/1.0 NetType/WIFI Channel/googleplay AppName/musical_ly app_version/32.5.3 ByteLocale/en BytedanceWebview/d8a21c6",
             "TikTok", "32.5", "Android", "12", .mobile),
        Case("LinkedIn iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [LinkedInApp]/9.29.2346",
             "LinkedIn", "9.29", "iOS", "17.1", .mobile),
        Case("WeChat iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.43(0x18002b2c) NetType/WIFI Language/zh_CN",
             "WeChat", "8.0", "iOS", "17.1", .mobile),
        Case("WeChat Android", "Mozilla/5.0 (Linux; Android 13; V2227A Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5061 MMWEBSDK/20230805 MMWEBID/2585 MicroMessenger/8.0.42.2460(0x28002A35) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64",
             "WeChat", "8.0", "Android", "13", .mobile),
        Case("Snapchat iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Snapchat/12.64.0.36 (like Safari/8617.2.4.10.8, panda)",
             "Snapchat", "12.64", "iOS", "17.1", .mobile),
        Case("Snapchat Android", "Mozilla/5.0 (Linux; Android 13; SM-S908U Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.43 Mobile Safari/537.36 Snapchat/12.64.0.34 (SM-S908U; Android 13#S908USQS4CWK2#33; gzip; )",
             "Snapchat", "12.64", "Android", "13", .mobile),
        Case("Pinterest iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [Pinterest/iOS]",
             "Pinterest", "", "iOS", "17.1", .mobile),
        Case("Twitter iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Twitter for iPhone/10.17",
             "Twitter", "10.17", "iOS", "16.6", .mobile),
        Case("Twitter Android", "Mozilla/5.0 (Linux; Android 13; Pixel 6 Build/TQ3A.230805.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/116.0.5845.163 Mobile Safari/537.36 TwitterAndroid",
             "Twitter", "", "Android", "13", .mobile),
    ]

    /// Crawlers, monitors, preview fetchers and automated browsers.
    static let bots: [String] = [
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/120.0.6099.129 Safari/537.36",
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.129 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "Googlebot-Image/1.0",
        "AdsBot-Google (+http://www.google.com/adsbot.html)",
        "Mediapartners-Google",
        "APIs-Google (+https://developers.google.com/webmasters/APIs-Google.html)",
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.129 Mobile Safari/537.36 (compatible; Google-InspectionTool/1.0;)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GoogleOther) Chrome/120.0.6099.129 Safari/537.36",
        "FeedFetcher-Google; (+http://www.google.com/feedfetcher.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.88 Safari/537.36 BingPreview/1.0b",
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "Mozilla/5.0 (compatible; YandexImages/3.0; +http://yandex.com/bots)",
        "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
        "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
        "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)",
        "Mozilla/5.0 (compatible; SeznamBot/4.0; +https://o-seznam.cz/napoveda/vyhledavani/en/seznambot-crawler/)",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "Mozilla/5.0 (compatible; AhrefsSiteAudit/6.1; +http://ahrefs.com/robot/site-audit)",
        "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
        "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)",
        "Mozilla/5.0 (compatible; DotBot/1.2; +https://opensiteexplorer.org/dotbot; help@moz.com)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)",
        "CCBot/2.0 (https://commoncrawl.org/faq/)",
        "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",
        "Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 8_1 like Mac OS X) AppleWebKit/600.1.4 (KHTML, like Gecko) Version/8.0 Mobile/12B410 Safari/600.1.4 (Amazonbot/0.1; +https://developer.amazon.com/support/amazonbot)",
        "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Facebot",
        "Twitterbot/1.0",
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Slackbot 1.0 (+https://api.slack.com/robots)",
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "TelegramBot (like TwitterBot)",
        "WhatsApp/2.23.20.0 A",
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com",
        "Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)",
        "Mozilla/5.0 (compatible; redditbot/1.0; +http://www.reddit.com/feedback)",
        "Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)",
        "Iframely/1.3.1 (+https://iframely.com/docs/about) Atlassian",
        "Mastodon/4.2.1 (http.rb/5.1.1; +https://mastodon.social/)",
        "Mozilla/5.0 (compatible; Snap URL Preview Service; bot; snapchat; https://developers.snap.com/robots)",
        "ia_archiver (+http://www.alexa.com/site/help/webmasters; crawler@alexa.com)",
        "Mozilla/5.0 (compatible; archive.org_bot +http://archive.org/details/archive.org_bot)",
        "Scrapy/2.11.0 (+https://scrapy.org)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.28 Safari/537.36",
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
        "Mozilla/5.0 (linux) AppleWebKit/537.36 (KHTML, like Gecko) jsdom/22.1.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Cypress/13.6.1 Chrome/114.0.5735.289 Electron/25.8.4 Safari/537.36",
        "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Lighthouse/11.4.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/104.0.5112.101 Safari/537.36 GTmetrix",
        "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
        "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/534.34 (KHTML, like Gecko) PingdomTMS/22.0 Safari/534.34",
        "Mozilla/5.0 (compatible; StatusCake)",
        "Site24x7",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 DatadogSynthetics",
        "W3C_Validator/1.3 http://validator.w3.org/services",
        "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
        "MOZILLA/5.0 (COMPATIBLE; GOOGLEBOT/2.1; +HTTP://WWW.GOOGLE.COM/BOT.HTML)",
        "bot",
        "Robot",
    ]

    /// Not bots: HTTP clients that server-side senders of `/event` use, and look-alikes of bot tokens.
    static let notBots: [String] = [
        "",
        "Mozilla/5.0",
        "curl/8.4.0",
        "curl/7.68.0",
        "python-requests/2.31.0",
        "Python-urllib/3.11",
        "Wget/1.21.4",
        "Go-http-client/2.0",
        "okhttp/4.12.0",
        "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
        "axios/1.6.2",
        "Apache-HttpClient/4.5.14 (Java/17.0.12)",
        "PostmanRuntime/7.36.0",
        "Mozilla/5.0 (Linux; Android 11; CUBOT_X50) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 12; CUBOT KINGKONG 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 10; cubot) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 13; Bottle 5G) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    ]

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
