// Sources: each provider's status in the last answer (ok, stale with its
// age, error with its message) beside its breaker and cache from
// GET /v1/providers. "Refresh from upstreams" asks for refresh=true, which
// the gateway rate-limits per key.

import { get } from "./api.js";
import { latestSources, noteAnswer, showError } from "./app.js";
import { $, h, age, badge } from "./util.js";

export function setup() {
  $("#sources-refresh").addEventListener("click", async (e) => {
    e.target.disabled = true;
    try {
      noteAnswer(await get("/v1/isos", new URLSearchParams({ per_page: "1", refresh: "true" })));
      await show();
    } catch (err) {
      showError(err);
    } finally {
      e.target.disabled = false;
    }
  });
}

export async function show() {
  try {
    // The listing's sources (per_page=1: only the statuses are wanted) and
    // the providers' health, side by side.
    const [listing, providers] = await Promise.all([
      latestSources().length ? null : get("/v1/isos", new URLSearchParams({ per_page: "1" })),
      get("/v1/providers"),
    ]);
    if (listing) noteAnswer(listing);
    const bySource = new Map(latestSources().map((s) => [s.provider, s]));
    $("#sources-body").replaceChildren(
      ...providers.data.map((p) => {
        const s = bySource.get(p.name);
        return h(
          "tr",
          { "data-provider": p.name },
          h("th", { scope: "row" }, p.name),
          h("td", {}, p.kind),
          h("td", { class: "status" }, status(s)),
          h("td", { class: "num" }, s?.count ?? p.cache_count ?? ""),
          h("td", {}, badge(p.health), p.last_error ? h("span", { class: "muted" }, ` ${p.last_error}`) : ""),
          h("td", {}, badge(p.breaker?.state || "unknown"), p.breaker?.failures ? ` ${p.breaker.failures} failed call${p.breaker.failures === 1 ? "" : "s"}` : ""),
          h("td", { class: "num" }, p.cache_age_s === null || p.cache_age_s === undefined ? "not cached" : age(p.cache_age_s)),
          h("td", { class: "caps" }, (p.capabilities || []).join(", ")),
        );
      }),
    );
  } catch (e) {
    showError(e);
  }
}

function status(s) {
  if (!s) return h("span", { class: "muted" }, "not in the last answer");
  const parts = [badge(s.status)];
  if (s.status === "stale" && s.age_s !== undefined) parts.push(` ${age(s.age_s)} old`);
  if (s.from_cache && s.status === "ok") parts.push(h("span", { class: "muted" }, " cached"));
  if (s.error?.message) parts.push(h("div", { class: "message" }, s.error.message));
  return parts;
}
