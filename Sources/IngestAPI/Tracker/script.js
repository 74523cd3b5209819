// Pipeline tracker: page views and events, sent in the Plausible Events API shape.
// <script defer data-domain="example.com" src="https://host/js/script.js"></script>
// Options: data-api (endpoint), data-hash, data-outbound-links, data-file-downloads.
// No cookies, no storage writes; globals: pipeline, plausible.
(function () {
"use strict";
var tag = document.currentScript;
if (!tag) return; // no tag (e.g. eval'd): no domain
var has = function (name) { return tag.hasAttribute(name); };
var api = tag.getAttribute("data-api") || new URL("/api/event", tag.src).href;
var hash = has("data-hash");
var FILES = /\.(pdf|xlsx|docx|txt|rtf|csv|exe|key|pps|ppt|pptx|7z|pkg|rar|gz|zip|avi|mov|mp4|mpeg|wmv|midi|mp3|wav|wma|dmg)$/i;

// Local pages, automated browsers and opted-out visitors send nothing.
function ignored() {
  if (/^(localhost|127\.0\.0\.1|\[::1\])$|\.localhost$/.test(location.hostname)) return true;
  if (location.protocol === "file:" || navigator.webdriver) return true;
  try { return localStorage.pipeline_ignore === "true"; } catch (e) { return false; }
}

// Random id per event (randomUUID exists on https pages only); a retry reuses it.
function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  var hex = function (b) { return (b + 256).toString(16).slice(1); };
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), hex).join("");
}

// text/plain: no CORS preflight; keepalive: outlives the page. A network failure is
// retried once after 1 s; an HTTP answer, even an error, is final.
function post(body, done, retried) {
  function beacon() {
    try { navigator.sendBeacon(api, new Blob([body], { type: "text/plain" })); } catch (e) {}
    done();
  }
  if (!window.fetch) return beacon();
  try {
    fetch(api, { method: "POST", body: body, keepalive: true,
      headers: { "Content-Type": "text/plain" }, credentials: "omit" })
      .then(done, function () { retried ? done() : setTimeout(post, 1000, body, done, true); });
  } catch (e) { beacon(); }
}

// pipeline(name, {props, callback}); the callback runs once sent, or at once if ignored.
function pipeline(name, options) {
  var o = options || {};
  var done = function () { if (typeof o.callback === "function") o.callback(); };
  if (ignored()) return done();
  var event = { n: String(name), u: location.href, d: tag.getAttribute("data-domain"), r: document.referrer || null };
  if (o.props) event.p = o.props;
  if (hash) event.h = 1;
  event.event_id = newId();
  post(JSON.stringify(event), done);
}

// Page views: on load and per SPA navigation to another page (path, + hash in hash mode).
var lastPage;
function pageview() {
  var page = location.pathname + (hash ? location.hash : "");
  if (page !== lastPage) { lastPage = page; pipeline("pageview"); }
}
var pushState = history.pushState;
history.pushState = function () {
  pushState.apply(this, arguments);
  pageview();
};
addEventListener("popstate", pageview);
if (hash) addEventListener("hashchange", pageview);

// Left and middle clicks on links; navigation goes on.
function onClick(e) {
  var a = e.target.closest && e.target.closest("a[href]");
  if (!a || !/^https?:$/.test(a.protocol) || (e.type === "auxclick" && e.button !== 1)) return;
  var props = { props: { url: a.href } };
  if (has("data-outbound-links") && a.host !== location.host) pipeline("Outbound Link: Click", props);
  else if (has("data-file-downloads") && FILES.test(a.pathname)) pipeline("File Download", props);
}
document.addEventListener("click", onClick);
document.addEventListener("auxclick", onClick);

// Replay calls queued before load by this snippet (or Plausible's, which is alike):
// window.pipeline = window.pipeline || function(){(window.pipeline.q = window.pipeline.q || []).push(arguments)}
var queue = [].concat((window.pipeline || {}).q || [], (window.plausible || {}).q || []);
if (!window.plausible || window.plausible.q) window.plausible = pipeline;
window.pipeline = pipeline;
pageview();
queue.forEach(function (args) { pipeline.apply(null, args); });
})();
