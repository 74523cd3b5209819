// Periods of the dashboard as local dates of the site ("YYYY-MM-DD"), the interval each is
// drawn in, and the previous period a comparison reads. Pure functions; dates are calendar
// days, computed in UTC so no local clock or DST shifts them.

/** The periods the picker offers, in its order. */
export const PERIODS = [
  ["day", "Today"], ["yesterday", "Yesterday"], ["7d", "Last 7 days"], ["30d", "Last 30 days"],
  ["month", "This month"], ["lastmonth", "Last month"], ["12mo", "Last 12 months"], ["custom", "Custom range"],
];

const DAY = 86_400_000;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Milliseconds at UTC midnight of "YYYY-MM-DD", or NaN when it is not a real date. */
export function toDays(text) {
  const match = ISO_DATE.exec(String(text));
  if (!match) return NaN;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const time = Date.UTC(year, month - 1, day);
  const check = new Date(time);
  return check.getUTCFullYear() === year && check.getUTCMonth() === month - 1 && check.getUTCDate() === day ? time : NaN;
}

/** "YYYY-MM-DD" of a UTC midnight. */
export function fromDays(time) {
  return new Date(time).toISOString().slice(0, 10);
}

/** `date` moved by `days` days. */
export function addDays(date, days) {
  return fromDays(toDays(date) + days * DAY);
}

/** The first day of the month `months` months from `date`'s. */
export function monthStart(date, months = 0) {
  const time = new Date(toDays(date));
  return fromDays(Date.UTC(time.getUTCFullYear(), time.getUTCMonth() + months, 1));
}

/** The last day of `date`'s month. */
export function monthEnd(date) {
  return addDays(monthStart(date, 1), -1);
}

/** Days from `first` to `last`, both included. */
export function dayCount(first, last) {
  return Math.round((toDays(last) - toDays(first)) / DAY) + 1;
}

/** Today in the IANA time zone `timeZone` at `now` (a Date). */
export function todayIn(timeZone, now = new Date()) {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(now);
  const part = (type) => parts.find((p) => p.type === type)?.value ?? "";
  return `${part("year")}-${part("month")}-${part("day")}`;
}

/**
 * The dates of `period` on `today`: `{first, last, interval}`. The rolling periods exclude
 * today, as the Stats API v2's `7d`, `30d` and `12mo` do; a custom range is taken as given
 * (swapped when reversed) and null when a date is missing or not real.
 */
export function resolvePeriod(period, today, from, to) {
  let first;
  let last;
  switch (period) {
    case "day": [first, last] = [today, today]; break;
    case "yesterday": first = last = addDays(today, -1); break;
    case "7d": [first, last] = [addDays(today, -7), addDays(today, -1)]; break;
    case "30d": [first, last] = [addDays(today, -30), addDays(today, -1)]; break;
    case "month": [first, last] = [monthStart(today), monthEnd(today)]; break;
    case "lastmonth": [first, last] = [monthStart(today, -1), addDays(monthStart(today), -1)]; break;
    case "12mo": [first, last] = [monthStart(today, -12), addDays(monthStart(today), -1)]; break;
    case "custom":
      if (Number.isNaN(toDays(from)) || Number.isNaN(toDays(to))) return null;
      [first, last] = toDays(from) <= toDays(to) ? [from, to] : [to, from];
      break;
    default: return null;
  }
  return { first, last, interval: intervalFor(first, last) };
}

/** Hours for one day, days up to 3 months, months beyond. */
export function intervalFor(first, last) {
  const days = dayCount(first, last);
  return days <= 1 ? "hour" : days <= 93 ? "day" : "month";
}

/**
 * The previous period, as the Stats API's `compare=previous_period` reads it: as many days as
 * the period has up to today, ending the day before it starts (this month on the 15th compares
 * with the 15 days before the 1st).
 */
export function previousPeriod(first, last, today) {
  const end = toDays(today) >= toDays(first) && toDays(today) < toDays(last) ? today : last;
  const days = dayCount(first, end);
  return { first: addDays(first, -days), last: addDays(end, -days) };
}

/** `date` moved by `months` months, its day clamped to the month's length (31 Jan + 1 month: 28 or 29 Feb). */
export function addMonths(date, months) {
  const target = monthStart(date, months);
  return addDays(target, Math.min(Number(String(date).slice(8, 10)), dayCount(target, monthEnd(target))) - 1);
}

/**
 * The range the chart draws faintly when comparing: for month buckets, as many whole months
 * before (so a bucket lines up with the same month of the year before); otherwise the previous
 * period of the top row.
 */
export function previousSeries(period, today) {
  if (period.interval !== "month") return previousPeriod(period.first, period.last, today);
  const [first, last] = [new Date(toDays(period.first)), new Date(toDays(period.last))];
  const months = (last.getUTCFullYear() - first.getUTCFullYear()) * 12 + last.getUTCMonth() - first.getUTCMonth() + 1;
  return { first: addMonths(period.first, -months), last: addDays(period.first, -1) };
}

/**
 * Plausible's change from `previous` to `current`: bounce rate in points (null when the
 * previous period had none), every other metric in whole percent, 100 from nothing to something.
 */
export function change(metric, previous, current) {
  if (metric === "bounce_rate") return previous > 0 ? whole(current - previous) : null;
  if (previous === 0) return current > 0 ? 100 : 0;
  return whole(((current - previous) / previous) * 100);
}

/** Rounded half away from zero, as the server rounds. */
function whole(value) {
  return Math.sign(value) * Math.round(Math.abs(value));
}
