// Catalogue: the federated listing (GET /v1/isos) as a table with search,
// filters, sortable columns, cursor paging, a column chooser and an item
// drawer (GET /v1/isos/{id}?raw=true).

import { get } from "./api.js";
import { navigate, noteAnswer, showError, state } from "./app.js";
import { $, h, badge, bytes, copyable } from "./util.js";

const MIB = 1024 * 1024;

const zoneText = (i) => (i.zones || []).map((z) => z.name || z.id).join(", ");

// Every normalised field can be a column; `sort` is the API's field name.
const COLUMNS = [
  { key: "name", label: "Name", sort: "name", get: (i) => i.name },
  { key: "provider", label: "Provider", sort: "provider", get: (i) => i.provider },
  { key: "provider_kind", label: "Provider kind", sort: "provider_kind", get: (i) => i.provider_kind },
  { key: "kind", label: "Kind", sort: "kind", get: (i) => i.kind },
  { key: "size", label: "Size", sort: "size_bytes", num: true, get: (i) => bytes(i.size_bytes) },
  { key: "status", label: "Status", sort: "status", get: (i) => badge(i.status) },
  { key: "os", label: "OS", sort: "os.name", get: (i) => i.os?.name || "" },
  { key: "zones", label: "Zones", sort: "zones.name", get: zoneText },
  { key: "visibility", label: "Visibility", sort: "visibility", get: (i) => i.visibility },
  { key: "bootable", label: "Bootable", sort: "bootable", get: (i) => fmtBool(i.bootable) },
  { key: "arch_bits", label: "Arch bits", sort: "arch_bits", num: true, get: (i) => i.arch_bits ?? "" },
  { key: "owner", label: "Owner", sort: "owner", get: (i) => i.owner ?? "" },
  { key: "created_at", label: "Created", sort: "created_at", get: (i) => i.created_at ?? "" },
  { key: "updated_at", label: "Updated", sort: "updated_at", get: (i) => i.updated_at ?? "" },
  { key: "description", label: "Description", sort: "description", get: (i) => i.description ?? "" },
  { key: "id", label: "ID", sort: "id", get: (i) => i.id },
];
const DEFAULT_COLUMNS = ["name", "provider", "kind", "size", "status", "os", "zones"];

function fmtBool(b) {
  return b === null || b === undefined ? "" : b ? "yes" : "no";
}

function visibleColumns(s) {
  const want = (s.get("cols") || DEFAULT_COLUMNS.join(",")).split(",");
  const cols = COLUMNS.filter((c) => want.includes(c.key));
  return cols.length ? cols : COLUMNS.filter((c) => DEFAULT_COLUMNS.includes(c.key));
}

/**
 * The API's query for the page's state: the same parameters the Stats view
 * sends (without paging), so charts follow the filters.
 */
export function apiQuery(s, { paging = true } = {}) {
  const p = new URLSearchParams();
  for (const k of ["q", "provider", "kind"]) if (s.get(k)) p.set(k, s.get(k));
  const clauses = [];
  if (s.get("status")) clauses.push(`status,eq,${s.get("status")}`);
  if (s.get("os")) clauses.push(`os.name,eq,${s.get("os")}`);
  const zone = s.get("zone");
  if (zone) {
    // "name:zone1" or "id:<uuid>": stats group zones by name, else by id.
    const [field, ...rest] = zone.split(":");
    clauses.push(`zones.${field === "id" ? "id" : "name"},eq,${rest.join(":")}`);
  }
  if (s.get("min")) clauses.push(`size_bytes,ge,${Math.round(Number(s.get("min")) * MIB)}`);
  if (s.get("max")) clauses.push(`size_bytes,le,${Math.round(Number(s.get("max")) * MIB)}`);
  if (clauses.length) p.set("filter", clauses.join(";"));
  if (paging) {
    if (s.get("sort")) p.set("sort", s.get("sort"));
    p.set("per_page", s.get("per_page") || "50");
    if (s.get("cursor")) p.set("cursor", s.get("cursor"));
  }
  return p;
}

// Cursors of the pages before this one (Previous goes back through them).
let trail = [];
let optionsLoaded = false;
let shownItem = null;
let lastQuery = null;
let lastKey = null;

export function setup() {
  const form = $("#filters");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const changes = { cursor: null };
    for (const k of ["q", "provider", "kind", "status", "os", "zone", "min", "max"]) changes[k] = f.get(k);
    trail = [];
    navigate(changes);
  });
  // Selects apply at once; text and numbers on Enter or Apply.
  for (const sel of form.querySelectorAll("select")) sel.addEventListener("change", () => form.requestSubmit());
  $("#f-reset").addEventListener("click", () => {
    trail = [];
    const keep = state();
    navigate(Object.fromEntries([...keep.keys()].filter((k) => k !== "cols" && k !== "per_page").map((k) => [k, null])));
  });
  $("#per-page").addEventListener("change", (e) => {
    trail = [];
    navigate({ per_page: e.target.value === "50" ? null : e.target.value, cursor: null });
  });
  $("#page-next").addEventListener("click", (e) => {
    const next = e.target.dataset.cursor;
    if (!next) return;
    trail.push(state().get("cursor") || "");
    navigate({ cursor: next });
  });
  $("#page-prev").addEventListener("click", () => {
    const prev = trail.pop();
    navigate({ cursor: prev || null });
  });
  $("#page-first").addEventListener("click", () => {
    trail = [];
    navigate({ cursor: null });
  });
  $("#drawer-close").addEventListener("click", closeDrawer);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("#drawer").hidden) closeDrawer();
  });
  const list = $("#column-list");
  for (const c of COLUMNS) {
    const box = h("input", { type: "checkbox", id: `col-${c.key}`, value: c.key });
    box.addEventListener("change", () => {
      const keys = [...list.querySelectorAll("input:checked")].map((b) => b.value);
      const value = keys.join(",") === DEFAULT_COLUMNS.join(",") ? null : keys.join(",");
      navigate({ cols: value || "name" }, { push: false });
    });
    list.append(h("label", { for: `col-${c.key}` }, box, ` ${c.label}`));
  }
}

/** Options for the provider, status, OS and zone filters, from the API itself. */
async function loadOptions() {
  optionsLoaded = true;
  const fill = (id, values) => {
    const sel = $(id);
    for (const [value, label] of values) sel.append(h("option", { value }, label));
  };
  const groups = async (g, extra) => {
    const p = new URLSearchParams({ group_by: g, ...extra });
    return (await get("/v1/isos/stats", p)).data.map((d) => d.group[g]).filter((v) => v !== null);
  };
  try {
    const [providers, statuses, oses, zones, named] = await Promise.all([
      get("/v1/providers"),
      groups("status"),
      groups("os"),
      groups("zone"),
      groups("zone", { filter: "zones.name,like,%" }),
    ]);
    fill("#f-provider", providers.data.map((p) => [p.name, p.name]));
    fill("#f-status", statuses.sort().map((v) => [v, v]));
    fill("#f-os", oses.sort().map((v) => [v, v]));
    const names = new Set(named);
    fill("#f-zone", zones.sort().map((z) => [`${names.has(z) ? "name" : "id"}:${z}`, z]));
  } catch {
    // The listing reports the refusal (and what it means); options can wait.
    optionsLoaded = false;
  }
}

function setControls(s) {
  for (const k of ["q", "provider", "kind", "status", "os", "zone", "min", "max"]) {
    const el = $(`#f-${k}`);
    const v = s.get(k) || "";
    if (el.tagName === "SELECT" && v && ![...el.options].some((o) => o.value === v)) {
      el.append(h("option", { value: v }, v)); // a shared link's value not listed (yet)
    }
    el.value = v;
  }
  $("#per-page").value = s.get("per_page") || "50";
  const cols = visibleColumns(s).map((c) => c.key);
  for (const box of $("#column-list").querySelectorAll("input")) box.checked = cols.includes(box.value);
}

export async function show(s) {
  if (!optionsLoaded) await loadOptions();
  setControls(s);
  // Back from a Next: the page we return to is the top of the trail.
  if (!s.get("cursor")) trail = [];
  else if (trail.length && trail[trail.length - 1] === s.get("cursor")) trail.pop();
  const query = apiQuery(s).toString();
  const cols = visibleColumns(s);
  // Opening or closing an item changes only `item`: keep the table.
  const key = `${query}|${cols.map((c) => c.key)}`;
  if (key !== lastKey) await load(s, query, cols, key);
  const item = s.get("item");
  if (item && item !== shownItem) openDrawer(item);
  if (!item && shownItem) hideDrawer();
}

async function load(s, query, cols, key) {
  const body = $("#grid-body");
  $("#grid").setAttribute("aria-busy", "true");
  try {
    const answer = await get("/v1/isos", new URLSearchParams(query));
    if (state().toString() !== s.toString()) return; // a newer view took over
    lastQuery = query;
    lastKey = key;
    noteAnswer(answer);
    renderHead(s, cols);
    body.replaceChildren(...answer.data.map((item) => row(item, cols)));
    if (!answer.data.length) {
      body.append(h("tr", {}, h("td", { colspan: cols.length, class: "empty" }, "No items match.")));
    }
    // After a reload on a later page the pages before it are unknown.
    const known = !s.get("cursor") || trail.length > 0;
    $("#summary").textContent = `${answer.meta.total} items`;
    $("#page-no").textContent = known ? `Page ${trail.length + 1}` : "";
    const next = $("#page-next");
    next.dataset.cursor = answer.meta.next_cursor || "";
    next.disabled = !answer.meta.next_cursor;
    $("#page-prev").disabled = !s.get("cursor");
    $("#page-first").disabled = !s.get("cursor");
    renderStrip(answer.sources);
  } catch (e) {
    lastKey = null;
    showError(e);
    body.replaceChildren();
  } finally {
    $("#grid").removeAttribute("aria-busy");
  }
}

function renderHead(s, cols) {
  const [field, dir] = (s.get("sort") || "").split(",");
  const head = $("#grid-head");
  head.replaceChildren(
    ...cols.map((c) => {
      const active = c.sort === field;
      const order = active ? (dir === "desc" ? "descending" : "ascending") : "none";
      const button = h(
        "button",
        { type: "button", class: "sort", "aria-label": `Sort by ${c.label}` },
        c.label,
        h("span", { class: "arrow", "aria-hidden": "true" }, active ? (order === "ascending" ? "▲" : "▼") : ""),
      );
      // Click: ascending, then descending, then the default order.
      button.addEventListener("click", () => {
        const next = !active ? `${c.sort},asc` : dir === "desc" ? null : `${c.sort},desc`;
        trail = [];
        navigate({ sort: next, cursor: null });
      });
      return h("th", { scope: "col", "aria-sort": order, class: c.num ? "num" : null }, button);
    }),
  );
}

function row(item, cols) {
  const tr = h(
    "tr",
    { tabindex: "0", "data-id": item.id, "aria-label": `${item.name} on ${item.provider}; Enter opens it` },
    cols.map((c) => h("td", { class: c.num ? "num" : null }, c.get(item))),
  );
  const open = () => navigate({ item: item.id }, { push: false });
  tr.addEventListener("click", open);
  tr.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      open();
    } else if (e.key === "ArrowDown") tr.nextElementSibling?.focus();
    else if (e.key === "ArrowUp") tr.previousElementSibling?.focus();
  });
  return tr;
}

function renderStrip(sources) {
  $("#source-strip").replaceChildren(
    ...sources.map((s) =>
      h("span", { class: "chip", title: s.error?.message || `${s.count ?? 0} items` }, badge(s.status), ` ${s.provider}`),
    ),
  );
}

async function openDrawer(id) {
  shownItem = id;
  const drawer = $("#drawer");
  const body = $("#drawer-body");
  $("#drawer-title").textContent = "Loading…";
  body.replaceChildren();
  drawer.hidden = false;
  try {
    const item = await get(`/v1/isos/${encodeURIComponent(id)}`, new URLSearchParams({ raw: "true" }));
    if (shownItem !== id) return;
    $("#drawer-title").textContent = item.name;
    const { raw, ...fields } = item;
    body.replaceChildren(
      h("h3", {}, "Identifiers"),
      h("dl", { class: "ids" },
        h("dt", {}, "Global id"), h("dd", {}, copyable(item.id)),
        h("dt", {}, "Native id"), h("dd", {}, copyable(item.native_id)),
      ),
      h("h3", {}, "Normalised fields"),
      h("dl", { class: "fields" }, Object.entries(fields).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, fieldText(k, v))])),
      h("h3", {}, "Upstream object (raw=true, fetched live)"),
      h("pre", { class: "raw", tabindex: "0", "aria-label": "Upstream object as JSON" }, JSON.stringify(raw ?? null, null, 2)),
    );
    $("#drawer-close").focus();
  } catch (e) {
    $("#drawer-title").textContent = "Item";
    showError(e);
  }
}

function fieldText(k, v) {
  if (v === null || v === undefined) return h("span", { class: "muted" }, "null");
  if (k === "size_bytes") return `${v} (${bytes(v)})`;
  if (typeof v === "object") return h("code", {}, JSON.stringify(v));
  return String(v);
}

function hideDrawer() {
  shownItem = null;
  $("#drawer").hidden = true;
}

async function closeDrawer() {
  const id = shownItem;
  hideDrawer();
  await navigate({ item: null }, { push: false });
  // Back to the row the drawer came from, for keyboard users.
  if (id) document.querySelector(`tr[data-id="${CSS.escape(id)}"]`)?.focus();
}

/** The query of the listing on screen (a change feed would re-run it). */
export function currentQuery() {
  return lastQuery;
}

/** Forgets the table so the next show() fetches it again (refresh, feed). */
export function invalidate() {
  lastKey = null;
}
