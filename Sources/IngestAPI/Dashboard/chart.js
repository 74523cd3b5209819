// The time-series chart: our own SVG (no library), a line and area for the period and, when
// comparing, the previous period as a faint dashed line. A column under the pointer, or the
// one chosen with the arrow keys, is read out below the chart.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 800;
const HEIGHT = 240;
const PAD = { top: 12, right: 12, bottom: 26, left: 48 };
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** A bucket's label as the axis shows it: "13:00" for hours, "24 Nov" for days, "Nov 2026" for months. */
export function shortLabel(label, interval) {
  const text = String(label);
  const month = MONTHS[Number(text.slice(5, 7)) - 1] ?? "";
  if (interval === "hour") return text.slice(11, 16);
  if (interval === "month") return `${month} ${text.slice(0, 4)}`;
  return `${Number(text.slice(8, 10))} ${month}`;
}

/** A round upper bound for the y axis: four equal whole steps (counts have no fractions). */
function niceMax(value) {
  if (!(value > 0)) return 4;
  const quarter = value / 4;
  const power = 10 ** Math.floor(Math.log10(quarter));
  const steps = power >= 10 ? [1, 2, 2.5, 5, 10] : [1, 2, 5, 10];
  const step = Math.max(1, (steps.find((s) => s * power >= quarter) ?? 10) * power);
  return step * 4;
}

/** An SVG element with attributes and text. */
function node(name, attributes = {}, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/**
 * Draws `series` into `container`, replacing what was there: `labels` (bucket labels),
 * `current` and optionally `previous` (numbers by bucket, aligned by position), `name` (the
 * metric shown), `interval`, `format` (a number as shown), and `readout` (an element the
 * chosen column is described in).
 */
export function renderChart(container, { labels, current, previous, name, interval, format, readout }) {
  const count = labels.length;
  const top = niceMax(Math.max(0, ...current, ...(previous ?? [])));
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (count > 1 ? (i / (count - 1)) * plotWidth : plotWidth / 2);
  const y = (v) => PAD.top + plotHeight - (Math.max(0, v) / top) * plotHeight;
  const svg = node("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", tabindex: 0, class: "chart",
    "aria-label": `${name} by ${interval}; use the arrow keys to read each ${interval}`,
  });
  for (let step = 0; step <= 4; step += 1) {
    const value = (top * step) / 4;
    svg.append(node("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value), class: "grid" }));
    svg.append(node("text", { x: PAD.left - 6, y: y(value) + 4, class: "axis", "text-anchor": "end" }, format(value)));
  }
  const every = Math.max(1, Math.ceil(count / 8));
  labels.forEach((label, i) => {
    if (i % every === 0) svg.append(node("text", { x: x(i), y: HEIGHT - 8, class: "axis", "text-anchor": "middle" }, shortLabel(label, interval)));
  });
  const path = (values) => values.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("");
  if (previous && count) svg.append(node("path", { d: path(previous.slice(0, count)), class: "previous" }));
  if (count) {
    svg.append(node("path", { d: `${path(current)}L${x(count - 1)},${y(0)}L${x(0)},${y(0)}Z`, class: "area" }));
    svg.append(node("path", { d: path(current), class: "line" }));
  }
  const marker = node("circle", { r: 4, class: "marker", visibility: "hidden" });
  svg.append(marker);
  const describe = (i) => {
    const was = previous && i < previous.length ? ` (previous period: ${format(previous[i])})` : "";
    return `${shortLabel(labels[i], interval)} · ${name}: ${format(current[i])}${was}`;
  };
  let chosen = -1;
  const choose = (i) => {
    chosen = Math.max(0, Math.min(count - 1, i));
    marker.setAttribute("cx", x(chosen));
    marker.setAttribute("cy", y(current[chosen]));
    marker.setAttribute("visibility", "visible");
    if (readout) readout.textContent = describe(chosen);
  };
  const band = count > 1 ? plotWidth / (count - 1) : plotWidth;
  labels.forEach((_, i) => {
    const column = node("rect", { x: x(i) - band / 2, y: PAD.top, width: band, height: plotHeight, class: "hit" });
    column.append(node("title", {}, describe(i)));
    column.addEventListener("mouseenter", () => choose(i));
    svg.append(column);
  });
  svg.addEventListener("keydown", (event) => {
    if (!count) return;
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      event.preventDefault();
      choose(chosen < 0 ? 0 : chosen + (event.key === "ArrowRight" ? 1 : -1));
    }
  });
  container.replaceChildren(svg);
}
