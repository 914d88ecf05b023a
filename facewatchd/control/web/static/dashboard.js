// Dashboard: the last days as the daemon counts them (stats), drawn here as inline SVG
// (no library, nothing from the network): a stacked bar a day of where the files went,
// the queue's size as a line, the period's totals, per person and per reason. Each bar
// has a <title>; the same numbers are in a table below it.
import { get } from "./api.js";
import { el, svg, plural, reasonText } from "./ui.js";

const SERIES = [ // bottom to top
  ["to_people", "to people"], ["to_review", "to review"], ["duplicates", "duplicates"], ["failed", "failed"],
];
const ACTIONS = [["kept", "kept"], ["taught", "taught (added as references)"], ["deleted", "deleted"], ["restored", "restored"]];
let last = null; // { days, root }: drawn again when the window's width changes

export async function showDashboard(root, { days = 30, inReview = null } = {}) {
  const answer = await get("/api/stats", { days });
  last = { days: answer.days, root, inReview };
  draw();
  return answer.days;
}

export function redrawDashboard() {
  if (last?.root.isConnected && last.root.offsetParent !== null) draw();
}

function draw() {
  const { days, root, inReview } = last;
  const sum = (pick) => days.reduce((n, d) => n + (pick(d) ?? 0), 0);
  const totals = Object.fromEntries(SERIES.map(([key]) => [key, sum((d) => d[key])]));
  const decided = totals.to_people + totals.to_review;
  const handled = SERIES.reduce((n, [key]) => n + totals[key], 0);
  const people = merge(days.map((d) => d.sorted));
  // Duplicates and failed files have totals and bars of their own.
  const reasons = merge(days.map((d) => d.review));
  reasons.delete("duplicate");
  reasons.delete("failed");
  const chartBox = el("div", { class: "chart-box" });
  root.replaceChildren(
    el("dl", { class: "totals" },
      total("Files handled", handled, `came in, in ${plural(days.length, "day")}`),
      total("To people", totals.to_people, "matched someone", "to_people"),
      total("To review", totals.to_review, "no face, unknown, uncertain…", "to_review"),
      total("Duplicates", totals.duplicates, "copies already seen", "duplicates"),
      total("Failed", totals.failed, "could not be read", "failed"),
      total("Match rate", decided ? percent(totals.to_people / decided) : "–", "of the files decided, to someone"),
      inReview === null ? null : total("In review now", inReview, "the queue")),
    el("figure", { class: "card chart" },
      el("figcaption", {}, el("h3", { text: `Files by day, the last ${plural(days.length, "day")}` }),
        legend(days.some((d) => d.queue !== null))),
      chartBox,
      handled ? null : el("p", { class: "hint", text: "Nothing sorted in these days yet." })),
    el("div", { class: "dash-lists" },
      counts("To people, by person", people, (name) => name, "to_people"),
      counts("To review, by reason", reasons, reasonText, "to_review"),
      counts("Review actions", new Map([...ACTIONS.map(([key, label]) => [label, sum((d) => d.actions[key])]),
        ["filed by re-checks", sum((d) => d.rechecked)], ["moves undone", sum((d) => d.undone)]]), (label) => label, "action")),
    table(days));
  // Drawn at the width it has, so its text stays readable on a phone.
  chartBox.append(chart(days, Math.max(280, chartBox.clientWidth || 640)));
}

function total(label, value, note, kind = null) {
  return el("div", { class: `total${kind ? " " + kind : ""}` },
    el("dt", { text: label }), el("dd", { text: typeof value === "number" ? value.toLocaleString() : value }),
    el("dd", { class: "note", text: note }));
}

const percent = (rate) => rate.toLocaleString([], { style: "percent", maximumFractionDigits: 1 });

function merge(maps) {
  const found = new Map();
  for (const map of maps) for (const [key, n] of Object.entries(map)) found.set(key, (found.get(key) ?? 0) + n);
  return found;
}

function legend(queue) {
  return el("ul", { class: "legend" },
    SERIES.map(([key, label]) => el("li", {}, el("span", { class: `swatch ${key}`, "aria-hidden": "true" }), label)),
    queue ? el("li", {}, el("span", { class: "swatch queue", "aria-hidden": "true" }), "in review at the day's end (right scale)") : null);
}

// Counts as bars, largest first; `kind` colours them.
function counts(title, map, name, kind) {
  const rows = [...map].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(b[0]));
  const most = Math.max(1, ...rows.map(([, n]) => n));
  const shown = rows.slice(0, 15);
  return el("section", { class: "card counts", "aria-label": title },
    el("h3", { text: title }),
    rows.length ? el("ol", {}, shown.map(([key, n]) => {
      const bar = el("span", { class: `bar ${kind}` });
      bar.style.width = `${(100 * n) / most}%`;
      return el("li", {}, el("span", { class: "name", text: name(key), title: name(key) }),
        el("span", { class: "track", "aria-hidden": "true" }, bar), el("span", { class: "n", text: n.toLocaleString() }));
    })) : el("p", { class: "hint", text: "None in these days." }),
    rows.length > shown.length ? el("p", { class: "hint", text: `and ${plural(rows.length - shown.length, "more")}` }) : null);
}

const dateOf = (day) => { const [y, m, d] = day.split("-").map(Number); return new Date(y, m - 1, d); };
const shortDay = (day) => dateOf(day).toLocaleDateString([], { month: "short", day: "numeric" });
const longDay = (day) => dateOf(day).toLocaleDateString([], { weekday: "short", month: "short", day: "numeric" });

function describe(d) {
  return `${longDay(d.day)}: ${d.to_people} to people, ${d.to_review} to review, ${plural(d.duplicates, "duplicate")},` +
    ` ${d.failed} failed` + (d.match_rate === null ? "" : `; match rate ${percent(d.match_rate)}`) +
    (d.queue === null ? "" : `; ${d.queue.toLocaleString()} in review at the day's end`);
}

// A step for the axis: 1, 2, 5 × 10^n (and finer for large numbers), at least 1.
function niceStep(raw) {
  if (raw <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const factors = power >= 10 ? [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10] : [1, 2, 5, 10];
  return factors.map((f) => f * power).find((step) => step >= raw);
}

export function chart(days, width) {
  const height = width < 520 ? 210 : 260;
  const queued = days.some((d) => d.queue !== null);
  const m = { top: 12, right: queued ? 44 : 12, bottom: 24, left: 38 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const totals = days.map((d) => SERIES.reduce((n, [key]) => n + d[key], 0));
  const step = niceStep(Math.max(1, ...totals) / 4);
  const ticks = Math.max(1, Math.ceil(Math.max(1, ...totals) / step));
  const top = step * ticks;
  const queueTop = niceStep(Math.max(1, ...days.map((d) => d.queue ?? 0)) / ticks) * ticks;
  const y = (value, scale = top) => m.top + h - (value / scale) * h;
  const band = w / days.length;
  const barWidth = Math.max(2, Math.min(40, band * 0.72));
  const every = Math.max(1, Math.ceil(46 / band)); // a date label each `every` days, today's always
  const today = days.at(-1)?.day;
  const axis = svg("g", { class: "axis", "aria-hidden": "true" });
  for (let i = 0; i <= ticks; i++) {
    const at = y(i * step);
    axis.append(svg("line", { class: i ? "grid-line" : "base-line", x1: m.left, x2: m.left + w, y1: at, y2: at }),
      svg("text", { x: m.left - 6, y: at + 4, "text-anchor": "end", text: (i * step).toLocaleString() }));
    if (queued) {
      axis.append(svg("text", { class: "queue-scale", x: m.left + w + 6, y: at + 4, text: ((i * queueTop) / ticks).toLocaleString() }));
    }
  }
  const bars = days.map((d, i) => {
    const x = m.left + i * band;
    const group = svg("g", { class: d.day === today ? "day today" : "day", dataset: { day: d.day } },
      svg("title", { text: describe(d) }),
      svg("rect", { class: "hit", x, y: m.top, width: band, height: h }));
    let base = 0;
    for (const [key] of SERIES) {
      if (!d[key]) continue;
      group.append(svg("rect", { class: `bar ${key}`, x: x + (band - barWidth) / 2, y: y(base + d[key]),
        width: barWidth, height: Math.max(1, y(base) - y(base + d[key])) }));
      base += d[key];
    }
    if ((days.length - 1 - i) % every === 0) {
      axis.append(svg("text", { class: d.day === today ? "today" : null, x: x + band / 2, y: m.top + h + 16,
        "text-anchor": "middle", text: d.day === today ? "today" : shortDay(d.day) }));
    }
    return group;
  });
  const line = svg("g", { class: "queue" });
  if (queued) { // the queue's size at each day's end, broken where the daemon did not run
    let points = [];
    const flush = () => {
      if (points.length > 1) line.append(svg("polyline", { class: "queue-line", points: points.join(" ") }));
      points = [];
    };
    days.forEach((d, i) => {
      if (d.queue === null) return flush();
      const x = m.left + i * band + band / 2;
      points.push(`${x.toFixed(1)},${y(d.queue, queueTop).toFixed(1)}`);
      line.append(svg("circle", { class: "queue-point", cx: x, cy: y(d.queue, queueTop), r: 3 },
        svg("title", { text: `${longDay(d.day)}: ${d.queue.toLocaleString()} in review at the day's end` })));
    });
    flush();
    line.prepend(...line.querySelectorAll("polyline")); // the line under its points
  }
  return svg("svg", { class: "chart-svg", width, height, viewBox: `0 0 ${width} ${height}`, role: "group",
    "aria-label": `Files by day: ${days.length} stacked bars, the numbers are in the table below` }, axis, ...bars, line);
}

function table(days) {
  const head = ["Day", ...SERIES.map(([, label]) => label), "match rate", "in review", "kept", "taught", "deleted", "restored"];
  return el("details", { class: "card by-day" },
    el("summary", { text: "The numbers by day" }),
    el("div", { class: "table-scroll" }, el("table", {},
      el("thead", {}, el("tr", {}, head.map((text) => el("th", { scope: "col", text })))),
      el("tbody", {}, [...days].reverse().map((d) => el("tr", { dataset: { day: d.day } },
        el("th", { scope: "row", text: longDay(d.day) }),
        SERIES.map(([key]) => el("td", { text: d[key].toLocaleString() })),
        el("td", { text: d.match_rate === null ? "–" : percent(d.match_rate) }),
        el("td", { text: d.queue === null ? "–" : d.queue.toLocaleString() }),
        ACTIONS.map(([key]) => el("td", { text: d.actions[key].toLocaleString() }))))))));
}
