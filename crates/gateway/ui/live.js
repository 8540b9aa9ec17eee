// The Live view and the header's feed badge: the change feed (/v1/events)
// read with fetch streaming, because EventSource cannot send the
// Authorization header and the key must never go in a URL. Reconnects
// resume with Last-Event-ID, so nothing is missed or repeated; a `reset`
// (the resume point fell out of the history) refreshes everything.

import { getKey } from "./api.js";
import { $, h } from "./util.js";

const KEEP = 200; // events listed in the Live view
let events = [];
let lastId = "";
let controller = null;
let onChange = () => {};
let retryMs = 3000;

/** Starts (or restarts, after a key change) the feed; `changed(event)` runs per event. */
export function connect(changed) {
  if (changed) onChange = changed;
  if (controller) controller.abort();
  controller = new AbortController();
  run(controller.signal);
}

function badge(state, title) {
  const b = $("#live-state");
  b.dataset.state = state;
  b.textContent = { live: "live", connecting: "connecting", retry: "reconnecting", off: "off" }[state];
  b.title = title || "";
}

async function run(signal) {
  while (!signal.aborted) {
    badge("connecting");
    const headers = { Accept: "text/event-stream" };
    const key = getKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    if (lastId) headers["Last-Event-ID"] = lastId;
    let resp;
    try {
      resp = await fetch("/v1/events", { headers, cache: "no-store", signal });
    } catch {
      if (signal.aborted) return;
      badge("retry", "the gateway did not answer");
      await sleep(retryMs, signal);
      continue;
    }
    if (resp.status === 404 || resp.status === 401 || resp.status === 403) {
      // Off, or not for this key: a new key restarts it.
      badge("off", `HTTP ${resp.status}`);
      return;
    }
    if (!resp.ok) {
      badge("retry", `HTTP ${resp.status}`);
      await sleep(Number(resp.headers.get("Retry-After")) * 1000 || retryMs, signal);
      continue;
    }
    badge("live");
    try {
      await read(resp.body.getReader(), signal);
    } catch {
      // A dropped connection: resume below.
    }
    if (signal.aborted) return;
    badge("retry", "the stream ended; resuming");
    await sleep(500, signal);
  }
}

async function read(reader, signal) {
  const decoder = new TextDecoder();
  let buf = "";
  while (!signal.aborted) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let end;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      frame(buf.slice(0, end));
      buf = buf.slice(end + 2);
    }
  }
}

/** One SSE block: `id:`, `event:`, `data:`, `retry:` lines; comments ignored. */
function frame(block) {
  let id = null;
  let type = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const at = line.indexOf(":");
    const field = at < 0 ? line : line.slice(0, at);
    const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
    if (field === "id") id = value;
    else if (field === "event") type = value;
    else if (field === "data") data.push(value);
    else if (field === "retry" && /^\d+$/.test(value)) retryMs = Number(value);
  }
  if (id) lastId = id;
  if (!data.length || type === "dropped") return;
  let event;
  try {
    event = JSON.parse(data.join("\n"));
  } catch {
    return;
  }
  events.unshift({ short: type, event });
  events = events.slice(0, KEEP);
  if (!$("#view-live").hidden) renderList();
  onChange(type, event);
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

function describe(short, e) {
  const d = e.data || {};
  switch (short) {
    case "iso.added":
    case "iso.removed":
      return d.name || e.subject;
    case "iso.changed":
      return `${d.item?.name || e.subject}: ${(d.fields || []).join(", ")}`;
    case "provider.status":
      return `${d.previous || "?"} → ${d.status}, breaker ${d.breaker}${d.error ? ` (${d.error})` : ""}`;
    case "provider.synced":
      return `${d.count} items`;
    case "reset":
      return `history ${d.reason}; views refreshed`;
    default:
      return "";
  }
}

function renderList() {
  $("#live-summary").textContent = events.length
    ? `${events.length} event${events.length === 1 ? "" : "s"} since this page opened (newest first).`
    : "No change yet. Imports, deletions and upstream changes appear here as they happen.";
  $("#live-body").replaceChildren(...events.map(({ short, event }) => h("tr", { "data-type": short }, [
    h("td", {}, new Date(event.time).toLocaleTimeString()),
    h("td", {}, h("span", { class: `ev ev-${short.replace(".", "-")}` }, short)),
    h("td", {}, (event.source || "").replace(/^\/providers\//, "")),
    h("td", {}, describe(short, event)),
  ])));
}

/** The Live view. */
export function show() {
  renderList();
}
