// The reviewer console: sign in with a token, watch the queue, open a request, approve or deny it.
// Everything the API returns is written with textContent: a parked request's URL, headers and body are the
// agent's, and are never read as HTML.

import * as api from "./api.js";
import { ago, bodyView, dateTime, riskFactors, riskLevel, riskText, shortId, timeLeft } from "./format.js";

const POLL_MS = 2000;
const QUEUE_SIZE = 100;
const HISTORY_SIZE = 20;
const SOON_MS = 5 * 60 * 1000;
const TITLE = document.title;

const $ = (id) => document.getElementById(id);

const queue = { rows: new Map(), loaded: false };
const history = { rows: new Map() };
const agentNames = new Map();
let session = 0; // bumped at each sign-in and sign-out: answers for an earlier session are dropped
let signedIn = false;
let timer = null;
let refreshing = false;
let refreshAgain = false;
let historyStale = true;
let failing = false;
let opener = null;
let openId = null;
let openPending = false; // the open request was Pending when last read, and no decision of ours is under way

// -- elements ---------------------------------------------------------------------------------------------------

function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "className") element.className = value;
    else if (name === "text") element.textContent = value;
    else element.setAttribute(name, value);
  }
  element.append(...children);
  return element;
}

function announce(text) {
  $("announcer").textContent = text;
}

function showMessage(text, kind) {
  const message = $("sign-in-message");
  message.textContent = text;
  message.className = `message ${kind}`;
  message.hidden = !text;
}

// -- signing in and out -----------------------------------------------------------------------------------------

function refusal(error) {
  if (error.status === 401) {
    return `The gateway did not accept this token (${error.detail || error.title}). Check that it is whole and has `
      + "not expired, or get a new one.";
  }
  if (error.status === 403) {
    return `This token may not review requests: ${error.detail || error.title}. Sign in with a token that has the `
      + "reviewer or admin role.";
  }
  return `Could not sign in: ${error.describe()}.`;
}

async function signIn(token) {
  $("sign-in-button").disabled = true;
  api.useToken(token);
  try {
    await api.listRequests(["Pending"], 1);
  } catch (error) {
    api.forgetToken();
    showMessage(refusal(error), "error");
    $("token").focus();
    return;
  } finally {
    $("sign-in-button").disabled = false;
  }
  session += 1;
  signedIn = true;
  historyStale = true;
  $("token").value = "";
  showMessage("", "info");
  $("sign-in").hidden = true;
  $("workspace").hidden = false;
  $("session").hidden = false;
  showWho(token);
  $("queue-title").focus();
  refresh();
}

function signOut(text, kind = "info") {
  session += 1;
  signedIn = false;
  clearTimeout(timer);
  api.forgetToken();
  if ($("detail").open) $("detail").close();
  for (const list of [queue, history]) list.rows.clear();
  agentNames.clear();
  queue.loaded = false;
  $("queue-rows").replaceChildren();
  $("history-rows").replaceChildren();
  document.title = TITLE;
  $("workspace").hidden = true;
  $("session").hidden = true;
  $("sign-in").hidden = false;
  showMessage(text, kind);
  $("token").focus();
}

// A token's subject and roles, when it is one of Vectra's JWTs; the operator token is not a JWT.
function claims(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    return JSON.parse(atob(parts[1].replaceAll("-", "+").replaceAll("_", "/")));
  } catch {
    return null;
  }
}

function showWho(token) {
  const who = $("who");
  const claimed = claims(token);
  if (!claimed || !claimed.sub) {
    who.textContent = "Signed in with the operator token";
    return;
  }
  const roles = (claimed.roles || []).filter((role) => role !== "agent").join(", ");
  const name = h("strong", { text: shortId(claimed.sub) });
  who.replaceChildren("Signed in as ", name, roles ? ` (${roles})` : "");
  agentName(claimed.sub).then((found) => { if (found) name.textContent = found; });
}

// Sign out on a refused token; true when it did.
function signedOutBy(error, { listing }) {
  if (error.status === 401) {
    signOut(`Signed out: the gateway no longer accepts this token (${error.detail || error.title}). Sign in again.`,
            "error");
    return true;
  }
  if (error.status === 403 && listing) {
    signOut(`Signed out: ${error.detail || error.title}.`, "error");
    return true;
  }
  return false;
}

// -- agents -----------------------------------------------------------------------------------------------------

// The agent's name, or null when it can't be read (the id is shown instead).
function agentName(id) {
  if (!agentNames.has(id)) {
    agentNames.set(id, api.getAgent(id).then((agent) => agent.name, () => {
      agentNames.delete(id); // asked again next time
      return null;
    }));
  }
  return agentNames.get(id);
}

function agentLabel(id) {
  const label = h("span", { className: "agent", title: id }, shortId(id));
  agentName(id).then((name) => {
    if (name) label.replaceChildren(name, " ", h("span", { className: "id", text: shortId(id) }));
  });
  return label;
}

// Who decided: an agent with the reviewer or admin role, the operator, or nobody (the request expired).
function deciderLabel(by) {
  if (by === null) return h("span", { className: "muted", text: "nobody (expired)" });
  return by === "operator" ? h("span", { text: "the operator" }) : agentLabel(by);
}

// -- the lists --------------------------------------------------------------------------------------------------

async function refresh() {
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = true;
  clearTimeout(timer);
  const mine = session;
  try {
    const page = await api.listRequests(["Pending"], QUEUE_SIZE);
    if (mine !== session) return;
    const changed = showQueue(page);
    if (changed || historyStale) {
      historyStale = false;
      showHistory(await api.listRequests(["Approved", "Denied", "Expired"], HISTORY_SIZE));
    }
    if (mine !== session) return;
    $("queue-status").textContent = `Live: checked at ${new Date().toLocaleTimeString()}.`
      + (page.totalCount > page.items.length ? ` Showing the newest ${page.items.length} of ${page.totalCount}.` : "");
    failing = false;
  } catch (error) {
    if (mine !== session || signedOutBy(error, { listing: true })) return;
    $("queue-status").textContent = `Could not update (${error.describe()}); trying again.`;
    if (!failing) announce("The queue could not be updated; trying again.");
    failing = true;
  } finally {
    refreshing = false;
    if (signedIn) {
      if (refreshAgain) {
        refreshAgain = false;
        refresh();
      } else if (!document.hidden) {
        timer = setTimeout(refresh, POLL_MS);
      }
    }
  }
}

// Put ``items`` in ``tbody`` in order, reusing the rows already there (so that focus and scroll stay put).
// Whether the set of rows changed.
function syncRows(tbody, rows, items, makeRow) {
  const ids = new Set(items.map((item) => item.id));
  let changed = false;
  for (const [id, row] of rows) {
    if (ids.has(id)) continue;
    if (row.contains(document.activeElement)) tbody.closest("section").querySelector("h2").focus();
    row.remove();
    rows.delete(id);
    changed = true;
  }
  let cursor = tbody.firstElementChild;
  for (const item of items) {
    let row = rows.get(item.id);
    if (!row) {
      row = makeRow(item);
      row.addEventListener("click", () => openDetail(item.id, row.querySelector("button")));
      rows.set(item.id, row);
      changed = true;
    }
    if (row === cursor) cursor = cursor.nextElementSibling;
    else tbody.insertBefore(row, cursor);
  }
  return changed;
}

function requestButton(item) {
  return h("button", { type: "button", className: "open" },
           h("span", { className: "method mono", text: item.method }), " ",
           h("span", { className: "url", text: item.url }));
}

function riskCell(risk, factors) {
  const list = h("ul", { className: "factors" });
  for (const [name, value] of riskFactors(factors)) list.append(h("li", {}, `${name} ${value}`));
  return h("td", {}, h("span", { className: `risk ${riskLevel(risk)}`, text: riskText(risk) }), list);
}

function queueRow(item) {
  return h("tr", {},
    h("th", { scope: "row" }, requestButton(item)),
    h("td", {}, agentLabel(item.agentId)),
    h("td", { text: item.reason || "—" }),
    h("td", {}, item.rule ? h("code", { text: item.rule }) : "default"),
    riskCell(item.risk, item.riskFactors),
    h("td", {}, h("span", { className: "countdown", "data-expires": item.expiresAt })));
}

function historyRow(item) {
  return h("tr", {},
    h("th", { scope: "row" }, requestButton(item)),
    h("td", {}, h("span", { className: `outcome ${item.status.toLowerCase()}`, text: item.status })),
    h("td", {}, agentLabel(item.agentId)),
    h("td", {}, deciderLabel(item.decidedBy)),
    h("td", {}, h("time", { datetime: item.decidedAt, title: dateTime(item.decidedAt),
                            "data-since": item.decidedAt })));
}

function showQueue(page) {
  const fresh = page.items.filter((item) => !queue.rows.has(item.id)).length;
  const openWasListed = queue.rows.has(openId);
  const changed = syncRows($("queue-rows"), queue.rows, page.items, queueRow);
  if (queue.loaded && fresh > 0) {
    announce(fresh === 1 ? "1 new request waiting for review." : `${fresh} new requests waiting for review.`);
  }
  queue.loaded = true;
  const count = page.totalCount;
  $("queue-count").textContent = `(${count})`;
  $("queue-empty").hidden = count > 0;
  $("queue-table").hidden = count === 0;
  document.title = count > 0 ? `(${count}) ${TITLE}` : TITLE;
  if (openWasListed && openPending && !queue.rows.has(openId)) {
    openPending = false;
    showResult("This request is no longer pending: it was decided elsewhere, or it expired.", "info");
    loadDetail(openId).catch(() => {}); // the next poll reports a refused token
  }
  tick();
  return changed;
}

function showHistory(page) {
  syncRows($("history-rows"), history.rows, page.items, historyRow);
  $("history-empty").hidden = page.items.length > 0;
  $("history-table").hidden = page.items.length === 0;
  tick();
}

// -- one request ------------------------------------------------------------------------------------------------

async function openDetail(id, from) {
  const mine = session;
  opener = from;
  openId = id;
  $("detail-title").textContent = "Request";
  $("detail-loading").hidden = false;
  $("detail-body").hidden = true;
  showResult("", "info");
  $("comment").value = "";
  if (!$("detail").open) $("detail").showModal();
  $("detail-title").focus();
  try {
    await loadDetail(id);
  } catch (error) {
    if (mine === session && !signedOutBy(error, { listing: false })) {
      $("detail-loading").hidden = true;
      showResult(`Could not open this request: ${error.describe()}.`, "failed");
    }
  }
}

// Read the open request (again) and show it, unless another was opened meanwhile; throws ApiError.
async function loadDetail(id) {
  const mine = session;
  const detail = await api.getRequest(id);
  if (mine === session && openId === id) showDetail(detail);
}

function showDetail(detail) {
  const request = detail.pending;
  $("detail-title").textContent = `${request.method} ${request.url}`;
  $("d-status").textContent = detail.status;
  $("d-agent").replaceChildren(agentLabel(request.agentId));
  $("d-reason").textContent = request.reason || "—";
  $("d-rule").textContent = request.rule || "the policy's default";
  $("d-policy").textContent = request.policyName ? `${request.policyName}, version ${request.policyVersion}` : "—";
  $("d-risk").replaceChildren(...riskCell(request.risk, request.riskFactors).childNodes);
  $("d-parked").textContent = dateTime(request.timestamp);
  const expires = $("d-expires");
  if (detail.status === "Pending") {
    expires.dataset.expires = request.expiresAt;
  } else {
    delete expires.dataset.expires;
    expires.classList.remove("soon");
    expires.textContent = `no longer pending (${detail.status.toLowerCase()})`;
  }
  $("d-digest").textContent = request.digest;
  $("d-headers").replaceChildren(...request.headers.map(({ name, value }) =>
    h("tr", {}, h("th", { scope: "row", text: name }),
      h("td", { className: value === "[redacted]" ? "redacted" : "", text: value }))));
  const body = bodyView(request);
  $("d-body-note").textContent = body.note;
  $("d-body").textContent = body.text;
  $("d-body").hidden = body.text === "";
  showDecision(detail);
  $("d-decide").hidden = detail.status !== "Pending";
  openPending = detail.status === "Pending";
  setDeciding(false);
  $("detail-loading").hidden = true;
  $("detail-body").hidden = false;
  tick();
}

function showDecision(detail) {
  const { decision, response } = detail;
  $("d-decided").hidden = !decision;
  if (!decision) return;
  const paragraph = $("d-decision");
  const when = dateTime(decision.at);
  if (decision.by === null) paragraph.replaceChildren(`Expired on ${when}: nobody decided in time.`);
  else paragraph.replaceChildren(`${detail.status} by `, deciderLabel(decision.by), ` on ${when}.`);
  if (decision.comment) paragraph.append(" Comment: ", h("q", { text: decision.comment }));
  $("d-response").textContent = !response ? ""
    : response.status !== null ? `The upstream answered ${response.status}.`
    : `The replay failed: ${response.error}.`;
}

// What became of the reviewer's action, or of the request meanwhile: "info", "done" or "failed".
function showResult(text, kind) {
  const result = $("d-result");
  result.textContent = text;
  result.className = `result ${kind}`;
}

function setDeciding(busy) {
  $("approve").disabled = busy;
  $("deny").disabled = busy;
  $("comment").disabled = busy;
}

async function decide(approving) {
  const id = openId;
  const mine = session;
  const comment = $("comment").value.trim();
  setDeciding(true);
  openPending = false;
  showResult(approving ? "Approving and sending the request upstream…" : "Denying…", "info");
  try {
    if (approving) {
      const answer = await api.approve(id, comment, $("d-digest").textContent);
      showResult(`Approved. The upstream answered ${answer.status} ${answer.statusText}`.trim() + ".", "done");
    } else {
      await api.deny(id, comment);
      showResult("Denied. The agent's call is refused.", "done");
    }
  } catch (error) {
    if (mine !== session || signedOutBy(error, { listing: false })) return;
    showResult(`Not ${approving ? "approved" : "denied"}: ${error.describe()}.`, "failed");
  }
  historyStale = true;
  refresh();
  $("d-result").focus();
  // the outcome above says what went wrong; the request may still be pending
  loadDetail(id).catch(() => setDeciding(false));
}

function closed() {
  openId = null;
  const target = opener && opener.isConnected ? opener : $("queue-title");
  opener = null;
  if (signedIn) target.focus();
}

// -- the clock --------------------------------------------------------------------------------------------------

function tick() {
  const now = api.serverNow();
  for (const element of document.querySelectorAll("[data-expires]")) {
    const left = Date.parse(element.dataset.expires) - now;
    element.textContent = timeLeft(left);
    element.classList.toggle("soon", left < SOON_MS);
  }
  for (const element of document.querySelectorAll("[data-since]")) {
    element.textContent = ago(now - Date.parse(element.dataset.since));
  }
}

// -- wiring -----------------------------------------------------------------------------------------------------

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token").value.trim();
  if (token) signIn(token);
  else showMessage("Paste a token first.", "error");
});
$("sign-out").addEventListener("click", () => signOut("Signed out."));
$("detail-close").addEventListener("click", () => $("detail").close());
$("detail").addEventListener("close", closed);
$("approve").addEventListener("click", () => decide(true));
$("deny").addEventListener("click", () => decide(false));
document.addEventListener("visibilitychange", () => {
  if (signedIn && !document.hidden) refresh();
});
setInterval(tick, 1000);

if (api.savedToken()) signIn(api.savedToken());
else $("token").focus();
