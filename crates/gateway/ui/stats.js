// Stats: counts and bytes grouped by provider, OS, status and zone
// (GET /v1/isos/stats?group_by=...), under the catalogue's search and
// filters, drawn with the vendored Chart.js (window.Chart, a UMD build).

import { get } from "./api.js";
import { noteAnswer, showError } from "./app.js";
import { apiQuery } from "./catalogue.js";
import { $, h, bytes } from "./util.js";

const GROUPS = [
  ["provider", "Provider"],
  ["os", "OS"],
  ["status", "Status"],
  ["zone", "Zone"],
];
// Long tails (OS names, zones) fold into "other" past this many bars.
const TOP = 10;

const charts = [];

function colours() {
  const css = getComputedStyle(document.documentElement);
  return {
    text: css.getPropertyValue("--fg").trim(),
    grid: css.getPropertyValue("--line").trim(),
    count: css.getPropertyValue("--accent").trim(),
    bytes: css.getPropertyValue("--accent-2").trim(),
  };
}

function top(rows) {
  const sorted = [...rows].sort((a, b) => b.count - a.count);
  if (sorted.length <= TOP) return sorted;
  const rest = sorted.slice(TOP - 1);
  return [
    ...sorted.slice(0, TOP - 1),
    { label: `other (${rest.length})`, count: rest.reduce((n, r) => n + r.count, 0), size_bytes: rest.reduce((n, r) => n + r.size_bytes, 0) },
  ];
}

// Long labels (OS names, zone ids) would squeeze the bars on a phone; the
// canvas's aria-label keeps them whole.
function shorten(value) {
  const label = this.getLabelForValue(value);
  const max = window.innerWidth < 720 ? 16 : 30;
  return label.length > max ? `${label.slice(0, max - 1)}…` : label;
}

function chart(canvas, rows, metric, colour, c) {
  return new window.Chart(canvas, {
    type: "bar",
    data: {
      labels: rows.map((r) => r.label),
      datasets: [{ label: metric === "count" ? "Items" : "Bytes", data: rows.map((r) => r[metric]), backgroundColor: colour }],
    },
    options: {
      indexAxis: "y",
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (ctx) => (metric === "count" ? `${ctx.raw} items` : bytes(ctx.raw)) } },
      },
      scales: {
        x: { ticks: { color: c.text, callback: (v) => (metric === "count" ? v : bytes(v)) }, grid: { color: c.grid } },
        y: { ticks: { color: c.text, autoSkip: false, callback: shorten }, grid: { display: false } },
      },
    },
  });
}

export async function show(s) {
  const base = apiQuery(s, { paging: false });
  try {
    const answers = await Promise.all(
      GROUPS.map(([g]) => {
        const p = new URLSearchParams(base);
        p.set("group_by", g);
        return get("/v1/isos/stats", p);
      }),
    );
    noteAnswer(answers[0]);
    for (const c of charts.splice(0)) c.destroy();
    const c = colours();
    const meta = answers[0].meta;
    $("#stats-summary").textContent = `${meta.total} items, ${bytes(meta.size_bytes)} in all${[...base].length ? " (under the catalogue's filters)" : ""}.`;
    $("#charts").replaceChildren(
      ...GROUPS.map(([g, title], i) => {
        const rows = top(answers[i].data.map((d) => ({ label: d.group[g] ?? "(none)", count: d.count, size_bytes: d.size_bytes })));
        const height = `${Math.max(120, rows.length * 26 + 40)}px`;
        const card = h("section", { class: "card", "data-group": g, "aria-label": `By ${title}` }, h("h2", {}, `By ${title}`));
        for (const [metric, label, colour] of [["count", "Items", c.count], ["size_bytes", "Bytes", c.bytes]]) {
          const summary = rows.map((r) => `${r.label}: ${metric === "count" ? r.count : bytes(r.size_bytes)}`).join("; ");
          const canvas = h("canvas", { role: "img", "aria-label": `${label} by ${title}: ${summary}` });
          const box = h("div", { class: "chart-box" }, canvas);
          box.style.height = height; // CSSOM, allowed under the CSP (no inline style attribute)
          card.append(h("h3", {}, label), box);
          // Drawn once the card is in the document (Chart.js measures its box).
          queueMicrotask(() => charts.push(chart(canvas, rows, metric, colour, c)));
        }
        return card;
      }),
    );
  } catch (e) {
    showError(e);
  }
}
