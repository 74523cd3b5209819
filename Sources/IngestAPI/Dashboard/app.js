// The dashboard: state in the URL (site, period, comparison, chart metric, filters), data from
// the Stats API with the signed-in key, rendered with textContent only (every value shown came
// from some website's visitors and is untrusted).

import { ApiError, StatsClient } from "./api.js";
import { renderChart } from "./chart.js";
import { PERIODS, change, previousPeriod, previousSeries, resolvePeriod, todayIn } from "./periods.js";

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
let generation = 0; // bumped by every load and start: older answers are dropped
let starts = 0;
let completed = 0; // finished loads, in <html data-load> (tests wait on it)
let lastContext = null; // what the view on screen asked, for reloading one card
let note = ""; // a message that stays until the person navigates (e.g. "showing another site")
const cardLoads = {}; // card id -> the latest load of that card
const REPLACED = "replaced by a newer view";
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
  note = "";
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

/** Shows `message` above the page (nothing when empty). */
function showNotice(message) {
  $("notice").textContent = message;
  $("notice").hidden = !message;
}

/** Shows the sign-in forms instead of the dashboard, with `message`. */
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

/** Decides which site to show and with what key, then loads it; a newer start wins. */
async function start() {
  const mine = ++starts;
  generation += 1; // whatever the old site's load still draws is dropped
  const key = localStorage.getItem(KEY_STORAGE);
  client = new StatsClient(key);
  let readable = [];
  if (key) {
    try {
      readable = await client.sites();
    } catch (error) {
      if (mine !== starts) return;
      if (error.status === 401) {
        localStorage.removeItem(KEY_STORAGE);
        showSignIn(`The saved API key was not accepted: ${error.message}`);
      } else {
        showSignIn(`Sites could not be listed: ${explain(error)}`);
      }
      return;
    }
    if (mine !== starts) return;
  }
  let site = readable.find((s) => s.domain === state.site);
  if (!site && state.site) {
    try {
      site = await client.site(state.site);
    } catch (error) {
      if (mine !== starts) return;
      if (!readable.length) {
        showSignIn(error.status === 401 ? `${state.site} is not public: sign in with a key that may read it.` : explain(error));
        return;
      }
      note = `${state.site} cannot be read with this key (${error.message}); showing ${readable[0].domain}.`;
    }
    if (mine !== starts) return;
  }
  site = site ?? readable[0];
  if (!site) {
    showSignIn(key ? "This key may read no site yet: add one with `Worker sites add`, or make a key for a site." : "");
    return;
  }
  sites = readable;
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
  realtimeTile.querySelector(".value").textContent = "–";
  if (!realtimeTile.isConnected) $("tiles").append(realtimeTile);
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
      if (mine !== generation) throw new ApiError(0, REPLACED);
      return await task();
    } finally {
      active -= 1;
      waiting.shift()?.();
    }
  };
})();

/** Today in the site's zone; UTC (said in the notice) when this browser does not know the zone. */
function siteToday(notes) {
  try {
    return todayIn(timeZone);
  } catch {
    notes.push(`This browser does not know the time zone ${timeZone}; days are counted in UTC.`);
    return todayIn("UTC");
  }
}

/** What one load asks: the period, its previous period, the filters; `mine` is its generation. */
function loadContext(notes) {
  const today = siteToday(notes);
  let period = resolvePeriod(state.period, today, state.from, state.to);
  if (!period) {
    notes.push("Pick both days of the custom range; showing the last 30 days.");
    period = resolvePeriod("30d", today);
  }
  return {
    mine: generation, site: state.site, period, previous: previousPeriod(period.first, period.last, today),
    chartPrevious: previousSeries(period, today), filters: [...state.filters],
  };
}

/** One query of a load, through the queue; dropped when a newer load began. */
function query(context, range, extra, extraFilters = []) {
  const filters = context.filters.map(([property, value]) => ["is", property, [value]]);
  return queue(context.mine, () => client.query({
    site_id: context.site, date_range: [range.first, range.last], filters: [...filters, ...extraFilters], ...extra,
  }));
}

/** Loads everything the current state shows; an older load still running is dropped. */
async function load() {
  const mine = ++generation;
  document.documentElement.dataset.state = "loading";
  const notes = [];
  const context = loadContext(notes);
  lastContext = context;
  // Plausible refuses views per visit with a page filter: the tile shows a dash instead.
  const metrics = TOP.map(([metric]) => metric).filter((m) => m !== "views_per_visit" || !context.filters.some(([p]) => p === "event:page"));
  const series = (range) => query(context, range, { metrics: [state.metric], dimensions: [`time:${context.period.interval}`], include: { time_labels: true } });
  const view = { site: context.site, period: context.period, previous: context.previous, filters: context.filters, metric: state.metric, top: null, series: null, cards: {} };
  const errors = [];
  const settle = (promise, render, fail) => promise.then(
    (answer) => mine === generation && render(answer),
    (error) => {
      errors.push(error);
      if (mine === generation && error.message !== REPLACED) fail(error);
    });
  await Promise.all([
    settle(Promise.all([query(context, context.period, { metrics }), query(context, context.previous, { metrics })]), ([now, before]) => {
      view.top = renderTop(metrics, now, before);
    }, () => renderTop(metrics, null, null)),
    settle(Promise.all([series(context.period), state.compare ? series(context.chartPrevious) : null]), ([now, before]) => {
      view.series = renderSeries(now, before, context.period.interval);
    }, (error) => $("chart").replaceChildren(el("p", "empty", `The chart could not be loaded: ${explain(error)}`))),
    ...CARDS.map((card) => loadCard(card, context, view).catch((error) => errors.push(error))),
  ]);
  if (mine !== generation) return;
  lastView = view;
  finish(errors, notes);
}

/** Loads one card for `context`, into `view`; alone when a tab or "More" changed. */
async function loadCard(card, context, view = lastView) {
  const token = (cardLoads[card.id] = (cardLoads[card.id] ?? 0) + 1);
  const tab = card.tabs[tabs[card.id] ?? 0];
  const property = tab.property === "prop" ? (state.prop ? `event:props:${state.prop}` : null) : tab.property;
  renderCardFrame(card, tab);
  if (view) delete view.cards[card.id];
  if (!property) return null;
  const body = {
    metrics: tab.metrics ?? ["visitors"], dimensions: [property],
    pagination: { limit: expanded[card.id] ? EXPANDED : ROWS }, include: { total_rows: true },
  };
  try {
    const answer = await query(context, context.period, body, tab.filter ? [tab.filter] : []);
    if (token === cardLoads[card.id] && context.mine === generation && view) view.cards[card.id] = renderCard(card, property, body.metrics, answer);
    return null;
  } catch (error) {
    if (token === cardLoads[card.id] && context.mine === generation && error.message !== REPLACED) {
      cardElement(card).querySelector(".body").replaceChildren(el("p", "empty", `Could not be loaded: ${explain(error)}`));
    }
    throw error;
  }
}

/** Reloads one card (its tab or its length changed), not the whole view. */
async function reloadCard(card) {
  if (!lastContext || lastContext.mine !== generation) return load();
  document.documentElement.dataset.state = "loading";
  const errors = [];
  await loadCard(card, lastContext).catch((error) => errors.push(error));
  if (lastContext.mine === generation) finish(errors, []);
}

/** Marks a load done: the notice says what went wrong, or what the person should know. */
function finish(errors, notes) {
  completed += 1;
  document.documentElement.dataset.load = String(completed);
  const failure = errors.find((error) => error.message !== REPLACED);
  if (failure?.status === 401) notes.push(`This key may not read ${state.site} (${failure.message}). Pick another site, or sign out and use another key.`);
  else if (failure) notes.push(explain(failure));
  showNotice([note, ...notes].filter(Boolean).join(" "));
  document.documentElement.dataset.state = failure ? "error" : "ready";
}

/** What to tell the person about a failed query. */
function explain(error) {
  if (error.status === 429) return `The API key's hourly limit is used up.${error.retryAfter ? ` Retry in ${Math.ceil(error.retryAfter / 60)} min.` : ""}`;
  if (error.status === 503) return `The server is busy: ${error.message}`;
  return error.message;
}

// ---------------------------------------------------------------------------------------------
// Top row, realtime and chart

/**
 * Draws the top row from the answers for `asked` (the metrics queried, in order) in the period
 * and the previous one; a metric not asked, or answers that failed (null), show a dash. Returns
 * what the CSV export writes.
 */
function renderTop(asked, now, before) {
  const current = now?.results?.[0]?.metrics ?? [];
  const earlier = before?.results?.[0]?.metrics ?? [];
  const tiles = TOP.map(([metric, name]) => {
    const index = now ? asked.indexOf(metric) : -1;
    const known = index >= 0;
    const value = known ? Number(current[index]) || 0 : null;
    const previous = known ? Number(earlier[index]) || 0 : null;
    const delta = known ? change(metric, previous, value) : null;
    const tile = el(CHARTABLE.has(metric) ? "button" : "div", "tile");
    tile.dataset.metric = metric;
    if (CHARTABLE.has(metric)) {
      tile.type = "button";
      tile.setAttribute("aria-pressed", String(state.metric === metric));
      tile.title = `Show ${name.toLowerCase()} in the chart`;
      tile.addEventListener("click", () => navigate({ metric }));
    }
    const shown = el("span", "value", known ? formatMetric(metric, value) : "—");
    if (known) shown.dataset.value = String(value);
    else if (now) tile.title = "Not defined with a page filter";
    const changeText = delta === null ? "" : `${delta > 0 ? "↑ " : delta < 0 ? "↓ " : ""}${Math.abs(delta)}${metric === "bounce_rate" ? " pts" : "%"}`;
    const better = metric === "bounce_rate" ? delta < 0 : delta > 0;
    const moved = el("span", `change${delta ? (better ? " good" : " bad") : ""}`, changeText);
    if (delta !== null) moved.dataset.change = String(delta);
    moved.title = "Change against the previous period";
    tile.append(el("span", "name", name), shown, moved);
    return { metric, value, previous, change: delta, tile };
  });
  $("tiles").replaceChildren(...tiles.map((t) => t.tile), realtimeTile);
  return now ? tiles.filter((t) => t.value !== null).map(({ tile, ...rest }) => rest) : null;
}

/** The current-visitors tile: kept across loads, refreshed by its own timer. */
const realtimeTile = (() => {
  const tile = el("div", "tile live");
  tile.id = "realtime";
  tile.title = "Visitors in the last 5 minutes, refreshed every 30 seconds";
  tile.append(el("span", "name", "Current visitors"), el("span", "value", "–"), el("span", "change"));
  return tile;
})();

/** Stops refreshing current visitors. */
function stopRealtime() {
  clearInterval(realtimeTimer);
  realtimeTimer = null;
}

/** Asks for current visitors now and every REFRESH ms while the page is visible. */
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

/** Draws the chart from the time-series answers (`before`: the previous period, or null); returns it for the CSV. */
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

/** The card's section, made with its tabs on first use. */
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
      reloadCard(card);
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

/** Draws a breakdown answer as clickable rows; returns the rows for the CSV. */
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
    if (expanded[card.id] && total > rows.length) body.append(el("p", "empty", `The top ${rows.length} of ${total}; the CSV export holds the same.`));
    if (total > ROWS) {
      const more = el("button", "more", expanded[card.id] ? "Show fewer" : `More (${total})`);
      more.type = "button";
      more.addEventListener("click", () => {
        expanded[card.id] = !expanded[card.id];
        reloadCard(card);
      });
      body.append(more);
    }
  }
  section.querySelector(".body").replaceWith(body);
  return { property, metrics, rows };
}

/** Filters the whole dashboard by `property` is `value` (replacing a filter on the same property). */
function addFilter(property, value) {
  if (state.filters.length >= MAX_FILTERS && !state.filters.some(([p]) => p === property)) return;
  navigate({ filters: [...state.filters.filter(([p]) => p !== property), [property, value]] });
}

/** One removable chip per filter. */
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

/** Sets the controls and chips from the state. */
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
    rows.push(["time series", label, view.metric, series.current[i]]);
    if (series.previous && i < series.previous.length) rows.push(["time series (previous period)", label, view.metric, series.previous[i]]);
  });
  for (const card of Object.values(view.cards)) {
    for (const row of card.rows) card.metrics.forEach((metric, i) => rows.push([card.property, row.value, metric, row.counts[i]]));
  }
  return rows.map((row) => row.map(cell).join(",")).join("\r\n") + "\r\n";
}

/** Downloads the view on screen as CSV. */
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

/** Wires the controls, the sign-in forms and history navigation. */
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
