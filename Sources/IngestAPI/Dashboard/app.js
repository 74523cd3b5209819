// The dashboard: state in the URL (site, period, comparison, chart metric, filters), data from
// the Stats API with the signed-in key, rendered with textContent only (every value shown came
// from some website's visitors and is untrusted).

import { ApiError, StatsClient } from "./api.js";
import { renderChart } from "./chart.js";
import { PERIODS, change, previousPeriod, resolvePeriod, todayIn } from "./periods.js";

const KEY_STORAGE = "pipeline.dashboard.key";
const KEY_SHAPE = /^pk_[0-9a-f]{64}$/;
const ROWS = 9; // rows a card shows; "More" shows up to EXPANDED
const EXPANDED = 100;
const REFRESH = 30_000; // current visitors, milliseconds
const PARALLEL = 3; // queries in flight at once: the server's stats gate is shared by everyone
const MAX_FILTERS = 20;

const TOP = [
  ["visitors", "Unique visitors"], ["visits", "Total visits"], ["pageviews", "Total pageviews"],
  ["views_per_visit", "Views per visit"], ["bounce_rate", "Bounce rate"], ["visit_duration", "Visit duration"],
];
const CHARTABLE = new Set(["visitors", "visits", "pageviews"]);
const METRIC_NAMES = { visitors: "Visitors", visits: "Visits", pageviews: "Pageviews", events: "Events" };
const PROPERTY_NAMES = {
  "event:page": "Page", "event:name": "Event", "event:hostname": "Hostname", "visit:entry_page": "Entry page",
  "visit:exit_page": "Exit page", "visit:source": "Source", "visit:referrer": "Referrer", "visit:utm_medium": "UTM medium",
  "visit:utm_source": "UTM source", "visit:utm_campaign": "UTM campaign", "visit:utm_content": "UTM content",
  "visit:utm_term": "UTM term", "visit:device": "Device", "visit:browser": "Browser", "visit:browser_version": "Browser version",
  "visit:os": "Operating system", "visit:os_version": "OS version", "visit:country": "Country",
};
const FILTERABLE = /^(event:(page|name|hostname|props:.+)|visit:[a-z_]+)$/;
const CARDS = [
  { id: "sources", title: "Top sources", tabs: [
    { property: "visit:source", label: "Sources" }, { property: "visit:referrer", label: "Referrers" },
    { property: "visit:utm_medium", label: "Medium" }, { property: "visit:utm_source", label: "UTM source" },
    { property: "visit:utm_campaign", label: "Campaign" }, { property: "visit:utm_content", label: "Content" },
    { property: "visit:utm_term", label: "Term" },
  ] },
  { id: "pages", title: "Top pages", tabs: [
    { property: "event:page", label: "Top pages", metrics: ["visitors", "pageviews"] },
    { property: "visit:entry_page", label: "Entry pages", metrics: ["visitors", "visits"] },
    { property: "visit:exit_page", label: "Exit pages", metrics: ["visitors", "visits"] },
  ] },
  { id: "locations", title: "Locations", tabs: [{ property: "visit:country", label: "Countries" }] },
  { id: "devices", title: "Devices", tabs: [
    { property: "visit:device", label: "Devices" }, { property: "visit:browser", label: "Browsers" },
    { property: "visit:os", label: "Operating systems" },
  ] },
  { id: "events", title: "Custom events", tabs: [
    { property: "event:name", label: "Events", metrics: ["visitors", "events"], filter: ["is_not", "event:name", ["pageview"]] },
    { property: "prop", label: "Properties", metrics: ["visitors", "events"] },
  ] },
];

const $ = (id) => document.getElementById(id);
const countries = typeof Intl.DisplayNames === "function" ? new Intl.DisplayNames(["en"], { type: "region" }) : null;

let client = new StatsClient(null);
let sites = []; // [{domain, timezone}] the key may read
let timeZone = "UTC";
let generation = 0;
let completed = 0;
let realtimeTimer = null;
let lastView = null; // what is on screen, for the CSV export
const tabs = {}; // card id -> tab index
const expanded = {}; // card id -> true when "More" is open
const state = readURL();

// ---------------------------------------------------------------------------------------------
// State in the URL

/** The state a URL describes; unknown or malformed parameters fall back to defaults. */
function readURL() {
  const params = new URLSearchParams(location.search);
  const period = PERIODS.some(([id]) => id === params.get("period")) ? params.get("period") : "30d";
  const metric = CHARTABLE.has(params.get("metric")) ? params.get("metric") : "visitors";
  const filters = [];
  for (const [name, value] of params) {
    if (FILTERABLE.test(name) && value !== "" && filters.length < MAX_FILTERS && !filters.some(([p]) => p === name)) filters.push([name, value]);
  }
  return {
    site: params.get("site") || "", period, from: params.get("from") || "", to: params.get("to") || "",
    compare: params.get("compare") === "1", metric, prop: params.get("prop") || "", filters,
  };
}

/** Writes the state into the address bar (a new history entry unless `replace`). */
function writeURL(replace = false) {
  const params = new URLSearchParams();
  if (state.site) params.set("site", state.site);
  params.set("period", state.period);
  if (state.period === "custom") {
    params.set("from", state.from);
    params.set("to", state.to);
  }
  if (state.compare) params.set("compare", "1");
  if (state.metric !== "visitors") params.set("metric", state.metric);
  if (state.prop) params.set("prop", state.prop);
  for (const [property, value] of state.filters) params.append(property, value);
  const url = `${location.pathname}?${params}`;
  if (url !== location.pathname + location.search) history[replace ? "replaceState" : "pushState"](null, "", url);
}

/** Applies `changes` to the state, records it in the URL and reloads. */
function navigate(changes) {
  Object.assign(state, changes);
  writeURL();
  syncControls();
  load();
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** 1234 as "1.2k", 2500000 as "2.5M". */
function compact(value) {
  const n = Number(value) || 0;
  if (Math.abs(n) < 1000) return String(Math.round(n * 100) / 100);
  const [size, unit] = Math.abs(n) < 1e6 ? [1e3, "k"] : Math.abs(n) < 1e9 ? [1e6, "M"] : [1e9, "B"];
  return `${(n / size).toFixed(1).replace(/\.0$/, "")}${unit}`;
}

/** Seconds as "45s", "3m 5s" or "1h 2m". */
function duration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** A top-row metric's value as shown. */
function formatMetric(metric, value) {
  if (metric === "bounce_rate") return `${Math.round(value)}%`;
  if (metric === "visit_duration") return duration(value);
  if (metric === "views_per_visit") return String(Math.round(value * 100) / 100);
  return compact(value);
}

/** A dimension value as a row shows it (a country's name for its code). */
function displayValue(property, value) {
  if (property === "visit:country" && countries && /^[A-Z]{2}$/.test(value)) {
    try {
      return countries.of(value) ?? value;
    } catch {
      return value;
    }
  }
  return value;
}

/** "Source is Google". */
function describeFilter(property, value) {
  const name = PROPERTY_NAMES[property] ?? (property.startsWith("event:props:") ? `Property ${property.slice(12)}` : property);
  return `${name} is ${displayValue(property, value)}`;
}

/** An element with a class and text. */
function el(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

// ---------------------------------------------------------------------------------------------
// Sign-in and site choice

function showNotice(message) {
  $("notice").textContent = message;
  $("notice").hidden = !message;
}

function showSignIn(message = "") {
  stopRealtime();
  $("dashboard").hidden = true;
  $("controls").hidden = true;
  $("site-picker").hidden = true;
  $("site-name").textContent = "";
  $("zone").textContent = "";
  $("signin").hidden = false;
  $("public-site").value = state.site;
  showNotice(message);
  document.documentElement.dataset.state = "signin";
}

/** Decides which site to show and with what key, then loads it. */
async function start() {
  const key = localStorage.getItem(KEY_STORAGE);
  client = new StatsClient(key);
  sites = [];
  if (key) {
    try {
      sites = await client.sites();
    } catch (error) {
      if (error.status === 401) {
        localStorage.removeItem(KEY_STORAGE);
        showSignIn(`The saved API key was not accepted: ${error.message}`);
      } else {
        showSignIn(`Sites could not be listed: ${error.message}`);
      }
      return;
    }
  }
  let site = sites.find((s) => s.domain === state.site);
  if (!site && state.site) {
    try {
      site = await client.site(state.site);
    } catch (error) {
      if (!sites.length) {
        showSignIn(error.status === 401 ? `${state.site} is not public: sign in with a key that may read it.` : error.message);
        return;
      }
      showNotice(`${state.site} cannot be read with this key (${error.message}); showing ${sites[0].domain}.`);
    }
  }
  site = site ?? sites[0];
  if (!site) {
    showSignIn(key ? "This key may read no site yet: add one with `Worker sites add`, or make a key for a site." : "");
    return;
  }
  state.site = site.domain;
  timeZone = site.timezone || "UTC";
  writeURL(true);
  const picker = $("site");
  picker.replaceChildren(...[...sites, ...(sites.some((s) => s.domain === site.domain) ? [] : [site])].map((s) => {
    const option = el("option", "", s.domain);
    option.value = s.domain;
    return option;
  }));
  picker.value = site.domain;
  $("site-picker").hidden = sites.length < 2;
  $("site-name").textContent = sites.length < 2 ? site.domain : "";
  $("zone").textContent = timeZone;
  $("signin").hidden = true;
  $("dashboard").hidden = false;
  $("controls").hidden = false;
  $("signout").hidden = !key;
  syncControls();
  startRealtime();
  await load();
}

// ---------------------------------------------------------------------------------------------
// Loading

/** Runs query tasks at most PARALLEL at a time; a task of a replaced load never starts. */
const queue = (() => {
  let active = 0;
  const waiting = [];
  return async (mine, task) => {
    while (active >= PARALLEL) await new Promise((resume) => waiting.push(resume));
    active += 1;
    try {
      if (mine !== generation) throw new ApiError(0, "replaced by a newer view");
      return await task();
    } finally {
      active -= 1;
      waiting.shift()?.();
    }
  };
})();

/** Loads everything the current state shows; an older load still running is dropped. */
async function load() {
  const mine = ++generation;
  document.documentElement.dataset.state = "loading";
  const today = todayIn(timeZone);
  let period = resolvePeriod(state.period, today, state.from, state.to);
  if (!period) {
    showNotice("Pick both days of the custom range.");
    period = resolvePeriod("30d", today);
  }
  const previous = previousPeriod(period.first, period.last, today);
  const filters = state.filters.map(([property, value]) => ["is", property, [value]]);
  const query = (range, extra, extraFilters = []) => queue(mine, () => client.query({
    site_id: state.site, date_range: [range.first, range.last], filters: [...filters, ...extraFilters], ...extra,
  }));
  const metrics = TOP.map(([metric]) => metric);
  const series = (range) => query(range, { metrics: [state.metric], dimensions: [`time:${period.interval}`], include: { time_labels: true } });
  const view = { site: state.site, period, previous, filters: [...state.filters], top: null, series: null, cards: {} };
  const errors = [];
  const settle = (promise, render) => promise.then((answer) => mine === generation && render(answer), (error) => errors.push(error));

  const jobs = [
    settle(Promise.all([query(period, { metrics }), query(previous, { metrics })]), ([now, before]) => {
      view.top = renderTop(now, before);
    }),
    settle(Promise.all([series(period), state.compare ? series(previous) : null]), ([now, before]) => {
      view.series = renderSeries(now, before, period.interval);
    }),
    ...CARDS.map((card) => {
      const tab = card.tabs[tabs[card.id] ?? 0];
      const property = tab.property === "prop" ? (state.prop ? `event:props:${state.prop}` : null) : tab.property;
      renderCardFrame(card, tab);
      if (!property) return Promise.resolve();
      const body = {
        metrics: tab.metrics ?? ["visitors"], dimensions: [property],
        pagination: { limit: expanded[card.id] ? EXPANDED : ROWS }, include: { total_rows: true },
      };
      return settle(query(period, body, tab.filter ? [tab.filter] : []), (answer) => {
        view.cards[card.id] = renderCard(card, property, body.metrics, answer);
      });
    }),
  ];
  await Promise.all(jobs);
  if (mine !== generation) return;
  lastView = view;
  completed += 1;
  document.documentElement.dataset.load = String(completed);
  const failure = errors.find((error) => error.message !== "replaced by a newer view");
  if (failure?.status === 401 && localStorage.getItem(KEY_STORAGE)) {
    localStorage.removeItem(KEY_STORAGE);
    showSignIn(`The API key is no longer accepted: ${failure.message}`);
    return;
  }
  showNotice(failure ? explain(failure) : "");
  document.documentElement.dataset.state = failure ? "error" : "ready";
}

/** What to tell the person about a failed query. */
function explain(error) {
  if (error.status === 429) return `The API key's hourly limit is used up. ${error.retryAfter ? `Retry in ${Math.ceil(error.retryAfter / 60)} min.` : ""}`;
  if (error.status === 503) return `The server is busy: ${error.message}`;
  return error.message;
}

// ---------------------------------------------------------------------------------------------
// Top row, realtime and chart

function metricValues(answer) {
  return answer?.results?.[0]?.metrics ?? [];
}

function renderTop(now, before) {
  const current = metricValues(now);
  const earlier = metricValues(before);
  const tiles = TOP.map(([metric, name], index) => {
    const value = Number(current[index]) || 0;
    const delta = change(metric, Number(earlier[index]) || 0, value);
    const tile = el(CHARTABLE.has(metric) ? "button" : "div", "tile");
    tile.dataset.metric = metric;
    if (CHARTABLE.has(metric)) {
      tile.type = "button";
      tile.setAttribute("aria-pressed", String(state.metric === metric));
      tile.title = `Show ${name.toLowerCase()} in the chart`;
      tile.addEventListener("click", () => navigate({ metric }));
    }
    const shown = el("span", "value", formatMetric(metric, value));
    shown.dataset.value = String(value);
    const changeText = delta === null ? "" : `${delta > 0 ? "↑ " : delta < 0 ? "↓ " : ""}${Math.abs(delta)}${metric === "bounce_rate" ? " pts" : "%"}`;
    const better = metric === "bounce_rate" ? delta < 0 : delta > 0;
    const moved = el("span", `change${delta ? (better ? " good" : " bad") : ""}`, changeText);
    if (delta !== null) moved.dataset.change = String(delta);
    moved.title = "Change against the previous period";
    tile.append(el("span", "name", name), shown, moved);
    return { metric, value, previous: Number(earlier[index]) || 0, change: delta, tile };
  });
  $("tiles").replaceChildren(...tiles.map((t) => t.tile), realtimeTile);
  return tiles.map(({ tile, ...rest }) => rest);
}

/** The current-visitors tile: kept across loads, refreshed by its own timer. */
const realtimeTile = (() => {
  const tile = el("div", "tile live");
  tile.id = "realtime";
  tile.title = "Visitors in the last 5 minutes, refreshed every 30 seconds";
  tile.append(el("span", "name", "Current visitors"), el("span", "value", "–"), el("span", "change"));
  return tile;
})();

function stopRealtime() {
  clearInterval(realtimeTimer);
  realtimeTimer = null;
}

function startRealtime() {
  stopRealtime();
  const tick = async () => {
    if (document.hidden) return;
    const site = state.site;
    try {
      const visitors = await client.realtime(site);
      const value = realtimeTile.querySelector(".value");
      if (site === state.site) {
        value.textContent = compact(visitors);
        value.dataset.value = String(visitors);
      }
    } catch {
      // the next tick tries again; a lasting failure shows in the main load's notice
    }
  };
  tick();
  realtimeTimer = setInterval(tick, REFRESH);
}

function renderSeries(now, before, interval) {
  const labels = Array.isArray(now?.meta?.time_labels) ? now.meta.time_labels : [];
  const values = (answer, keys) => {
    const byLabel = new Map((answer?.results ?? []).map((row) => [row.dimensions?.[0], Number(row.metrics?.[0]) || 0]));
    return keys.map((label) => byLabel.get(label) ?? 0);
  };
  const current = values(now, labels);
  const previous = before ? values(before, Array.isArray(before?.meta?.time_labels) ? before.meta.time_labels : []) : null;
  renderChart($("chart"), {
    labels, current, previous, interval, name: METRIC_NAMES[state.metric], format: compact, readout: $("chart-readout"),
  });
  $("chart-readout").textContent = "";
  return { labels, current, previous };
}

// ---------------------------------------------------------------------------------------------
// Breakdown cards

function cardElement(card) {
  let section = document.querySelector(`.card[data-card="${card.id}"]`);
  if (section) return section;
  section = el("section", "card");
  section.dataset.card = card.id;
  const header = el("header");
  const list = el("div", "tabs");
  list.setAttribute("role", "tablist");
  card.tabs.forEach((tab, index) => {
    const button = el("button", "", tab.label);
    button.type = "button";
    button.setAttribute("role", "tab");
    button.dataset.tab = tab.property;
    button.addEventListener("click", () => {
      tabs[card.id] = index;
      expanded[card.id] = false;
      load();
    });
    list.append(button);
  });
  header.append(el("h2", "", card.title), list);
  const body = el("div", "body");
  section.append(header, body);
  $("cards").append(section);
  return section;
}

/** The card with its tabs marked and, until its answer comes, its old rows. */
function renderCardFrame(card, tab) {
  const section = cardElement(card);
  for (const button of section.querySelectorAll(".tabs button")) button.setAttribute("aria-selected", String(button.dataset.tab === tab.property));
  const form = section.querySelector(".propkey");
  if (tab.property !== "prop") {
    form?.remove();
    return;
  }
  if (!form) {
    const propForm = el("form", "propkey");
    const input = el("input");
    input.name = "prop";
    input.placeholder = "property key, e.g. plan";
    input.setAttribute("aria-label", "Custom property key");
    input.maxLength = 300;
    propForm.append(input, Object.assign(el("button", "", "Show"), { type: "submit" }));
    propForm.addEventListener("submit", (event) => {
      event.preventDefault();
      navigate({ prop: input.value.trim() });
    });
    section.querySelector("header").after(propForm);
  }
  section.querySelector(".propkey input").value = state.prop;
  if (!state.prop) section.querySelector(".body").replaceChildren(el("p", "empty", "Name a custom property to break events down by it."));
}

function renderCard(card, property, metrics, answer) {
  const section = cardElement(card);
  const results = Array.isArray(answer?.results) ? answer.results : [];
  const total = Number(answer?.meta?.total_rows) || results.length;
  const rows = results.map((row) => ({ value: String(row.dimensions?.[0] ?? ""), counts: metrics.map((_, i) => Number(row.metrics?.[i]) || 0) }));
  const body = el("div", "body");
  body.style.setProperty("--metrics", String(metrics.length));
  if (!rows.length) {
    body.append(el("p", "empty", "No data for this period."));
  } else {
    const columns = el("div", "columns");
    columns.append(el("span", "", PROPERTY_NAMES[property] ?? `Property ${property.slice(12)}`), ...metrics.map((m) => el("span", "", METRIC_NAMES[m])));
    const list = el("ol", `rows${expanded[card.id] ? " expanded" : ""}`);
    const top = Math.max(1, ...rows.map((row) => row.counts[0]));
    const active = state.filters.find(([p]) => p === property)?.[1];
    for (const row of rows) {
      const button = el("button", "row");
      button.type = "button";
      button.dataset.value = row.value;
      button.style.setProperty("--share", `${((row.counts[0] / top) * 100).toFixed(1)}%`);
      button.disabled = active === row.value;
      button.title = button.disabled ? "Filtered by this value" : `Filter the dashboard by ${describeFilter(property, row.value).toLowerCase()}`;
      button.append(el("span", "label", displayValue(property, row.value)));
      row.counts.forEach((count, i) => {
        const number = el("span", "num", compact(count));
        number.dataset.metric = metrics[i];
        number.dataset.value = String(count);
        button.append(number);
      });
      button.addEventListener("click", () => addFilter(property, row.value));
      const item = el("li");
      item.append(button);
      list.append(item);
    }
    body.append(columns, list);
    if (total > ROWS) {
      const more = el("button", "more", expanded[card.id] ? "Show fewer" : `More (${total})`);
      more.type = "button";
      more.addEventListener("click", () => {
        expanded[card.id] = !expanded[card.id];
        load();
      });
      body.append(more);
    }
  }
  section.querySelector(".body").replaceWith(body);
  return { property, metrics, rows };
}

function addFilter(property, value) {
  if (state.filters.length >= MAX_FILTERS && !state.filters.some(([p]) => p === property)) return;
  navigate({ filters: [...state.filters.filter(([p]) => p !== property), [property, value]] });
}

function renderChips() {
  $("filters").replaceChildren(...state.filters.map(([property, value]) => {
    const chip = el("span", "chip");
    chip.dataset.property = property;
    chip.dataset.value = value;
    const text = describeFilter(property, value);
    const remove = el("button", "", "×");
    remove.type = "button";
    remove.setAttribute("aria-label", `Remove filter: ${text}`);
    remove.addEventListener("click", () => navigate({ filters: state.filters.filter(([p]) => p !== property) }));
    chip.append(el("span", "", text), remove);
    return chip;
  }));
}

// ---------------------------------------------------------------------------------------------
// Controls and export

function syncControls() {
  $("period").value = state.period;
  $("custom").hidden = state.period !== "custom";
  $("from").value = state.from;
  $("to").value = state.to;
  $("compare").checked = state.compare;
  renderChips();
}

/** A CSV cell: quoted when needed; text a spreadsheet would run as a formula is defused. */
function cell(value) {
  let text = String(value ?? "");
  if (typeof value !== "number" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The view on screen as CSV: one row per number, `section,key,metric,value`. */
function viewCSV(view) {
  const rows = [["section", "key", "metric", "value"], ["site", "", "", view.site],
    ["period", "first", "", view.period.first], ["period", "last", "", view.period.last],
    ["previous period", "first", "", view.previous.first], ["previous period", "last", "", view.previous.last]];
  for (const [property, value] of view.filters) rows.push(["filter", property, "is", value]);
  for (const tile of view.top ?? []) {
    rows.push(["summary", "", tile.metric, tile.value], ["summary (previous period)", "", tile.metric, tile.previous]);
  }
  const series = view.series;
  series?.labels.forEach((label, i) => {
    rows.push(["time series", label, state.metric, series.current[i]]);
    if (series.previous && i < series.previous.length) rows.push(["time series (previous period)", label, state.metric, series.previous[i]]);
  });
  for (const card of Object.values(view.cards)) {
    for (const row of card.rows) card.metrics.forEach((metric, i) => rows.push([card.property, row.value, metric, row.counts[i]]));
  }
  return rows.map((row) => row.map(cell).join(",")).join("\r\n") + "\r\n";
}

function exportCSV() {
  if (!lastView) return;
  const url = URL.createObjectURL(new Blob([viewCSV(lastView)], { type: "text/csv;charset=utf-8" }));
  const link = el("a");
  link.href = url;
  link.download = `${lastView.site}_${lastView.period.first}_${lastView.period.last}.csv`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function bindControls() {
  $("period").replaceChildren(...PERIODS.map(([id, label]) => Object.assign(el("option", "", label), { value: id })));
  $("period").addEventListener("change", () => {
    if ($("period").value === "custom") {
      $("custom").hidden = false;
      $("from").focus();
      return;
    }
    navigate({ period: $("period").value });
  });
  $("apply").addEventListener("click", () => navigate({ period: "custom", from: $("from").value, to: $("to").value }));
  $("compare").addEventListener("change", () => navigate({ compare: $("compare").checked }));
  $("site").addEventListener("change", () => {
    Object.assign(state, { site: $("site").value, filters: [], prop: "" });
    writeURL();
    start();
  });
  $("export").addEventListener("click", exportCSV);
  $("signout").addEventListener("click", () => {
    localStorage.removeItem(KEY_STORAGE);
    showSignIn("Signed out; the key was removed from this browser.");
  });
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key").value.trim();
    if (!KEY_SHAPE.test(key)) {
      showNotice("An API key is pk_ followed by 64 hexadecimal digits.");
      return;
    }
    localStorage.setItem(KEY_STORAGE, key);
    $("key").value = "";
    showNotice("");
    start();
  });
  $("public-form").addEventListener("submit", (event) => {
    event.preventDefault();
    Object.assign(state, { site: $("public-site").value.trim(), filters: [] });
    writeURL();
    start();
  });
  window.addEventListener("popstate", () => {
    const next = readURL();
    const siteChanged = next.site !== state.site;
    Object.assign(state, next);
    syncControls();
    siteChanged ? start() : load();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && realtimeTimer) startRealtime();
  });
}

bindControls();
if (!localStorage.getItem(KEY_STORAGE) && !state.site) showSignIn();
else start();
