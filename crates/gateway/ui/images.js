// Images: the same image across providers. The coverage matrix
// (GET /v1/images/coverage: identities x providers, each cell present,
// absent or different) and the OS releases each provider offers
// (GET /v1/images, one row per identity). "Shared only" keeps identities on
// two providers or more (filter=providers,ge,2), kept in the address bar.

import { get } from "./api.js";
import { navigate, noteAnswer, showError } from "./app.js";
import { $, h } from "./util.js";

const MARK = { present: "✓", absent: "–", different: "≠" };
const SAID = { present: "present", absent: "absent", different: "different build" };

let wired = false;

function wire() {
  if (wired) return;
  wired = true;
  $("#images-shared").addEventListener("change", (e) => {
    navigate({ shared: e.target.checked ? "1" : null }, { push: false });
  });
}

/** Every identity of the images listing (following the cursor). */
async function allGroups(params) {
  const out = [];
  let answer = await get("/v1/images", params);
  for (;;) {
    out.push(...answer.data);
    const cursor = answer.meta.next_cursor;
    if (!cursor) return { groups: out, answer };
    const next = new URLSearchParams(params);
    next.set("cursor", cursor);
    answer = await get("/v1/images", next);
  }
}

const label = (r) => [r.family, r.version, r.arch, r.edition].filter((x) => x).join(" ");

function matrix(cov) {
  const head = h(
    "tr",
    {},
    ["Family", "Version", "Arch", "Edition"].map((t) => h("th", { scope: "col" }, t)),
    cov.providers.map((p) => h("th", { scope: "col", "data-provider": p }, p)),
  );
  const rows = cov.rows.map((r) =>
    h(
      "tr",
      { "data-identity": label(r) },
      h("th", { scope: "row" }, r.family),
      [r.version, r.arch, r.edition].map((v) => h("td", {}, v ?? "")),
      cov.providers.map((p) => {
        const cell = r.cells[p] || "absent";
        return h("td", { class: `cell cell-${cell}`, "data-provider": p, "data-cell": cell, title: `${label(r)} on ${p}: ${SAID[cell]}` },
          h("span", { "aria-hidden": "true" }, MARK[cell]),
          h("span", { class: "sr-only" }, SAID[cell]));
      }),
    ),
  );
  $("#coverage-head").replaceChildren(head);
  $("#coverage-body").replaceChildren(...rows);
}

function releases(groups, providers) {
  // provider -> family -> versions (as the groups' order gives them: natural)
  const by = new Map(providers.map((p) => [p, new Map()]));
  for (const g of groups) {
    for (const p of g.providers) {
      if (!by.has(p)) by.set(p, new Map());
      const fams = by.get(p);
      if (!fams.has(g.family)) fams.set(g.family, new Set());
      if (g.version) fams.get(g.family).add(g.version);
    }
  }
  const rows = [];
  for (const [p, fams] of by) {
    if (fams.size === 0) {
      rows.push(h("tr", { "data-provider": p }, h("th", { scope: "row" }, p), h("td", { class: "muted" }, "(none recognised)"), h("td", {}, "")));
      continue;
    }
    for (const [fam, versions] of fams) {
      rows.push(h("tr", { "data-provider": p, "data-family": fam },
        h("th", { scope: "row" }, p), h("td", {}, fam), h("td", { class: "versions" }, [...versions].join(", "))));
    }
  }
  $("#releases-body").replaceChildren(...rows);
}

export async function show(s) {
  wire();
  const shared = s.get("shared") === "1";
  $("#images-shared").checked = shared;
  const params = new URLSearchParams();
  if (shared) params.set("filter", "providers,ge,2");
  try {
    const [cov, listed] = await Promise.all([
      get("/v1/images/coverage", params),
      allGroups(new URLSearchParams([...params, ["per_page", "200"]])),
    ]);
    noteAnswer(cov);
    matrix(cov);
    releases(listed.groups, cov.providers);
    const cells = cov.rows.flatMap((r) => Object.values(r.cells));
    const count = (c) => cells.filter((x) => x === c).length;
    $("#images-summary").textContent =
      `${cov.meta.total} identities across ${cov.providers.length} providers: ` +
      `${count("present")} present, ${count("absent")} absent, ${count("different")} different builds.`;
  } catch (e) {
    showError(e);
  }
}
