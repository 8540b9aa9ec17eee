// Small DOM and formatting helpers shared by the views.

/** An element with attributes and children (strings become text, never HTML). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export const $ = (sel) => document.querySelector(sel);

/** Bytes as KiB/MiB/GiB (binary units, like the size filter). */
export function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** Seconds as "42 s", "3 min", "2 h". */
export function age(s) {
  if (s === null || s === undefined) return "";
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/** A status badge: ok, stale, error, degraded, open... */
export function badge(text, tone) {
  return h("span", { class: `badge ${tone || text}` }, text);
}

/** Copies text, and says so on the button. */
export async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    // No clipboard (insecure origin): select the text for Ctrl+C instead.
    const sel = window.getSelection();
    const range = document.createRange();
    range.selectNodeContents(button.previousElementSibling || button);
    sel.removeAllRanges();
    sel.addRange(range);
    button.textContent = "Selected";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 1500);
}

/** A copyable value: the text and a Copy button. */
export function copyable(text) {
  const button = h("button", { type: "button", class: "copy", "aria-label": `Copy ${text}` }, "Copy");
  button.addEventListener("click", (e) => { e.stopPropagation(); copy(text, button); });
  return h("span", { class: "copyable" }, h("code", {}, text), button);
}
