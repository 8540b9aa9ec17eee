// The dashboard's shell: views (tabs), the address bar as the page's state,
// the key panel, and the banners every view shares.
//
// The state lives in the query string of /ui (view, q, provider, kind,
// status, os, zone, min, max, sort, per_page, cursor, cols, item), so a view
// is a link: reloading or sharing it restores it. A new search or page is a
// history entry (pushState, so Back works); opening an item or choosing
// columns only rewrites the current one (replaceState).

import { ApiError, getKey, setKey } from "./api.js";
import { $, h, age } from "./util.js";
import * as catalogue from "./catalogue.js";
import * as images from "./images.js";
import * as sources from "./sources.js";
import * as stats from "./stats.js";
import * as live from "./live.js";

// A view is { show(state) }: one entry here plus a tab button and a
// section in index.html.
const VIEWS = { catalogue, sources, stats, images, live };

/** The page's state: the address bar's query string. */
export function state() {
  return new URLSearchParams(location.search);
}

/** Changes the state: `push` makes a history entry, else it replaces this one. */
export function navigate(changes, { push = true } = {}) {
  const next = state();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === "") next.delete(k);
    else next.set(k, v);
  }
  const url = `${location.pathname}${[...next].length ? `?${next}` : ""}`;
  if (url === `${location.pathname}${location.search}`) return render();
  history[push ? "pushState" : "replaceState"](null, "", url);
  return render();
}

/** Re-renders the current view from the address bar. */
export function render() {
  const s = state();
  const view = VIEWS[s.get("view")] ? s.get("view") : "catalogue";
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const on = tab.dataset.view === view;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
  }
  return VIEWS[view].show(s);
}

// Change-feed events arrive in bursts (one listing's diff): the shown
// view is fetched again once per burst, not once per event.
// A first snapshot (`provider.synced`) changes nothing the page shows.
let pending = null;
function changed(type) {
  if (pending || type === "provider.synced") return;
  pending = setTimeout(() => {
    pending = null;
    const view = state().get("view") || "catalogue";
    if (view !== "live") refresh();
  }, 300);
}

/** Fetches the current view again (after a key change; a feed's event). */
export function refresh() {
  catalogue.invalidate();
  return render();
}

// The last answer's per-provider status, shared by the banner, the
// catalogue's strip and the Sources view.
let lastSources = [];

export function latestSources() {
  return lastSources;
}

/** Records an answer's `sources` and `meta.partial` and shows the banner. */
export function noteAnswer(answer) {
  clearError();
  lastSources = answer?.sources || [];
  const banner = $("#banner-partial");
  const bad = lastSources.filter((s) => s.status !== "ok");
  if (!answer?.meta?.partial || bad.length === 0) {
    banner.hidden = true;
    banner.replaceChildren();
    return;
  }
  banner.replaceChildren(
    h("strong", {}, "Partial answer: "),
    // h() flattens the nested lists; replaceChildren would not.
    h("span", {}, bad.map((s, i) => [
      i ? "; " : "",
      h("b", {}, s.provider),
      s.status === "stale" ? " is stale, served from cache" : " failed",
      s.status === "stale" && s.age_s !== undefined ? ` (${age(s.age_s)} old)` : "",
      s.error?.message ? `: ${s.error.message}` : "",
    ])),
    ". Everything else is current.",
  );
  banner.hidden = false;
}

/** Shows an API error (with what 401/403/429 mean) or any other failure. */
export function showError(e) {
  const banner = $("#banner-error");
  banner.textContent = e instanceof ApiError ? e.explain() : `Error: ${e.message || e}`;
  banner.hidden = false;
  if (e instanceof ApiError && e.status === 401) $("#key-panel").open = true;
}

export function clearError() {
  $("#banner-error").hidden = true;
}

function keyState() {
  $("#key-state").textContent = getKey() ? "set" : "none";
}

function setupKeys() {
  keyState();
  $("#key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setKey($("#key-input").value.trim());
    $("#key-input").value = "";
    $("#key-panel").open = false;
    keyState();
    refresh();
    live.connect();
  });
  $("#key-clear").addEventListener("click", () => {
    setKey("");
    keyState();
    refresh();
    live.connect();
  });
}

function setupTabs() {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  for (const tab of tabs) {
    tab.addEventListener("click", () => {
      // Coming back to a view shows it as it is now, not as it was left.
      catalogue.invalidate();
      navigate({ view: tab.dataset.view === "catalogue" ? null : tab.dataset.view });
    });
    // Arrow keys move between tabs (the WAI-ARIA tabs pattern).
    tab.addEventListener("keydown", (e) => {
      const i = tabs.indexOf(tab);
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      const next = tabs[(to + tabs.length) % tabs.length];
      next.focus();
      next.click();
    });
  }
}

function setupKeyboard() {
  document.addEventListener("keydown", (e) => {
    const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement?.tagName);
    if (e.key === "/" && !typing) {
      e.preventDefault();
      if (state().get("view")) navigate({ view: null });
      $("#f-q").focus();
    }
  });
}

setupKeys();
setupTabs();
setupKeyboard();
catalogue.setup();
sources.setup();
window.addEventListener("popstate", render);
render();
live.connect(changed);
