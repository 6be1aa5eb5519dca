// The HITL API as the console calls it: the token kept in this tab's sessionStorage, sent as a bearer token, and
// RFC 9457 problems turned into ApiError. The gateway's clock is estimated from its Date header, so that countdowns
// stay right on a reviewer's machine whose clock is off.

const TOKEN_KEY = "vectra.console.token";
const SKEW_TOLERANCE_MS = 5000; // Date has a one-second resolution: smaller differences are noise

let token = sessionStorage.getItem(TOKEN_KEY);
let clockOffsetMs = 0;

export class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail || title);
    this.status = status;
    this.title = title;
    this.detail = detail;
  }

  // "409 Conflict: HITL request … was already approved by …"; no status when the gateway gave no answer
  describe() {
    return `${this.status ? `${this.status} ` : ""}${this.title}${this.detail ? `: ${this.detail}` : ""}`;
  }
}

export function savedToken() {
  return token;
}

export function useToken(value) {
  token = value;
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
}

// Milliseconds since the epoch by the gateway's clock.
export function serverNow() {
  return Date.now() + clockOffsetMs;
}

async function call(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json, application/problem+json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                   cache: "no-store", credentials: "omit" });
  } catch {
    throw new ApiError(0, "Gateway unreachable", "the console could not reach the gateway");
  }
  noteClock(response);
  return response;
}

function noteClock(response) {
  const date = Date.parse(response.headers.get("date") || "");
  if (Number.isNaN(date)) return;
  const offset = date - Date.now();
  clockOffsetMs = Math.abs(offset) > SKEW_TOLERANCE_MS ? offset : 0;
}

async function problem(response) {
  let document = {};
  try {
    document = await response.json();
  } catch {
    // not a problem document (a proxy in front of the gateway, say): the status alone
  }
  return new ApiError(response.status, document.title || response.statusText || "Error", document.detail || "");
}

async function json(path, options) {
  const response = await call(path, options);
  if (!response.ok) throw await problem(response);
  return response.json();
}

export function listRequests(statuses, pageSize) {
  const query = new URLSearchParams({ status: statuses.join(","), pageSize: String(pageSize) });
  return json(`/hitl?${query}`);
}

export function getRequest(id) {
  return json(`/hitl/${encodeURIComponent(id)}`);
}

export function getAgent(id) {
  return json(`/agents/${encodeURIComponent(id)}`);
}

export function deny(id, comment) {
  return json(`/hitl/${encodeURIComponent(id)}/deny`, { method: "POST", body: comment ? { comment } : {} });
}

// The upstream's answer ({status, statusText}) when the approval was replayed. Any status is the upstream's when
// the answer carries Vectra-Hitl-Id; without it, the answer is the gateway's problem.
export async function approve(id, comment, digest) {
  const body = comment ? { comment, digest } : { digest };
  const response = await call(`/hitl/${encodeURIComponent(id)}/approve`, { method: "POST", body });
  if (!response.headers.has("vectra-hitl-id")) throw await problem(response);
  return { status: response.status, statusText: response.statusText };
}
