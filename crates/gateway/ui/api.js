// Calls to the gateway's API with the pasted key, and what its refusals mean.

const KEY = "isogate.apiKey";

/** The key from this tab's sessionStorage (never the URL, never localStorage). */
export function getKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

/** An API refusal, with the problem document and a plain explanation. */
export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }

  /** What the status means for the person looking at the page. */
  explain() {
    const detail = this.problem?.detail ? ` (${this.problem.detail})` : "";
    switch (this.status) {
      case 401:
        return `401 Unauthorized: the gateway needs an API key, or does not recognise this one. Paste a key under “Key”.${detail}`;
      case 403:
        return `403 Forbidden: the key is valid but may not do this: it lacks the scope, or the provider is outside its allow-list.${detail}`;
      case 429:
        return `429 Too Many Requests: this key is over its rate limit${this.retryAfter ? `; retry in ${this.retryAfter} s` : ""}.${detail}`;
      default:
        return `${this.status} ${this.problem?.title || "error"}${detail}`;
    }
  }
}

/** GETs `path` (with `params`) as JSON, with the key as a bearer header. */
export async function get(path, params) {
  const qs = params && [...params].length ? `?${params}` : "";
  const headers = { Accept: "application/json" };
  const key = getKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  let resp;
  try {
    resp = await fetch(`${path}${qs}`, { headers, cache: "no-store" });
  } catch (e) {
    throw new ApiError(0, { title: "network error", detail: `the gateway did not answer: ${e.message}` });
  }
  const text = await resp.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { detail: text.slice(0, 200) };
  }
  if (!resp.ok) throw new ApiError(resp.status, body, resp.headers.get("Retry-After"));
  return body;
}
