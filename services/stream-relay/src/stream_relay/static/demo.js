"use strict";
// The demo inbox (DESIGN §5): the browser's own EventSource with ?token=, so reconnects and
// Last-Event-ID replay are the browser's. Mark read / delete call the API on this origin.
const $ = (id) => document.getElementById(id);
const STREAM = "/api/v1/notifications/stream";
const API = "/api/v1/notifications";
const items = new Map();          // id -> notification, the inbox as this tab knows it
let token = new URLSearchParams(location.search).get("token") || "";
let source = null;                // the open EventSource
let lastEventId = "";             // the last id seen, for a reopen after EventSource gave up
let failures = 0, reopenTimer = 0;
let replaying = false, replayed = 0;
let pending = null;               // live changes that arrive while the list is being refetched

function claims(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch { return {}; }
}
function setState(kind, text) { const s = $("state"); s.dataset.state = kind; s.textContent = text; }
function notice(text) { $("notice").textContent = text; }
function announce(text) { $("announce").textContent = text; }
function summary(n) {
  const d = n.data;
  if (typeof d === "string") return d;
  if (d && typeof d === "object") return String(d.title ?? d.message ?? d.text ?? JSON.stringify(d));
  return String(d);
}
function setBadge(unread) {
  const badge = $("badge");
  badge.textContent = unread; badge.dataset.count = unread;
  badge.setAttribute("aria-label", `${unread} unread`);
  document.title = unread > 0 ? `(${unread}) QaHub inbox` : "QaHub inbox";
}

// ---- the list --------------------------------------------------------------------------------
function row(n) {
  const li = document.createElement("li");
  li.id = "n-" + n.id; li.dataset.id = n.id;
  const body = document.createElement("div"); body.className = "body";
  const text = document.createElement("p"); text.className = "text";
  const meta = document.createElement("div"); meta.className = "meta";
  const type = document.createElement("span"); type.className = "type";
  const time = document.createElement("time");
  meta.append(type, " · ", time); body.append(text, meta);
  const actions = document.createElement("div"); actions.className = "actions";
  const toggle = document.createElement("button");
  toggle.type = "button"; toggle.className = "toggle"; toggle.dataset.act = "toggle";
  const del = document.createElement("button");
  del.type = "button"; del.className = "delete"; del.dataset.act = "delete"; del.textContent = "Delete";
  actions.append(toggle, del); li.append(body, actions);
  return li;
}
function fill(li, n) {
  const label = summary(n);
  li.classList.toggle("unread", !n.readAt);
  li.dataset.createdAt = n.createdAt;
  li.querySelector(".text").textContent = label;
  li.querySelector(".type").textContent = n.type;
  const time = li.querySelector("time");
  time.dateTime = n.createdAt; time.textContent = new Date(n.createdAt).toLocaleString();
  const toggle = li.querySelector(".toggle");
  toggle.textContent = n.readAt ? "Mark unread" : "Mark read";
  toggle.setAttribute("aria-label", `${toggle.textContent}: ${label}`);
  li.querySelector(".delete").setAttribute("aria-label", `Delete: ${label}`);
}
function upsert(n) {
  const known = items.has(n.id);
  items.set(n.id, n);
  let li = $("n-" + n.id);
  if (!li) {
    li = row(n);
    // Newest first: before the first row created no later than this one (ties: arrival order).
    const at = Date.parse(n.createdAt);
    const later = [...$("list").children].find((el) => Date.parse(el.dataset.createdAt) <= at);
    $("list").insertBefore(li, later ?? null);
  }
  fill(li, n);
  $("empty").hidden = items.size > 0;
  return !known;
}
function remove(id) {
  items.delete(id);
  const li = $("n-" + id);
  if (li?.contains(document.activeElement)) {
    (li.nextElementSibling ?? li.previousElementSibling ?? $("mark-all")).querySelector?.("button")?.focus();
  }
  li?.remove();
  $("empty").hidden = items.size > 0;
}
function replaceAll(list) {
  items.clear(); $("list").replaceChildren();
  list.forEach(upsert);
  $("empty").hidden = items.size > 0;
}
function apply(kind, payload) {
  pending?.push([kind, payload]);
  if (kind === "deleted") { remove(payload.id); return; }
  if (upsert(payload) && kind === "created") announce(`New notification: ${summary(payload)}`);
}

// ---- the API (same origin, Authorization: Bearer) ---------------------------------------------
async function call(method, path, body) {
  const headers = { Authorization: "Bearer " + token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  try {
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (!res.ok) {
      const err = await res.json().catch(() => null);
      notice(`${method} failed: ${err?.error?.message ?? "HTTP " + res.status}`);
      return null;
    }
    notice("");
    return res.status === 204 ? {} : await res.json();
  } catch (e) {
    notice(`${method} failed: the API is unreachable`);
    return null;
  }
}
async function refetch() {
  // After a reconnect that could not be recovered the list may be stale: load it again.
  pending = [];
  const page = await call("GET", `${API}?status=all&limit=100`);
  const arrived = pending; pending = null;
  if (page === null) return false;      // no API on this origin: `recent` is what we have
  replaceAll(page.items.slice().reverse());
  arrived.forEach(([kind, payload]) => apply(kind, payload));
  return true;
}
// The list is busy from a connect until it is loaded: the API's page is in and the
// stream's snapshot (`stats`/`recent`) has come (it never comes when the API is down).
let loading = false, snapshotDue = false;
function showBusy() { $("list").setAttribute("aria-busy", String(loading || snapshotDue)); }
$("list").addEventListener("click", async (e) => {
  const button = e.target.closest("button[data-act]");
  if (!button) return;
  const id = button.closest("li").dataset.id, n = items.get(id);
  if (!n) return;
  if (button.dataset.act === "toggle") {
    const updated = await call("PATCH", `${API}/${id}`, { read: !n.readAt });
    if (updated) upsert(updated);
  } else if (await call("DELETE", `${API}/${id}`)) {
    remove(id);
  }
});
$("mark-all").addEventListener("click", () => call("POST", `${API}/read`, {}));

// ---- the stream ------------------------------------------------------------------------------
function open() {
  clearTimeout(reopenTimer);
  if (source) source.close();
  let url = `${STREAM}?token=${encodeURIComponent(token)}`;
  // A new EventSource starts without Last-Event-ID; pass the last id on so nothing is missed.
  if (lastEventId) url += `&lastEventId=${encodeURIComponent(lastEventId)}`;
  const es = source = new EventSource(url);
  const on = (name, handler) => es.addEventListener(name, (e) => {
    if (e.lastEventId) lastEventId = e.lastEventId;
    handler(JSON.parse(e.data));
  });
  on("connected", (d) => {
    failures = 0; $("signin").hidden = true;
    replaying = d.recovered; replayed = 0;
    setState("connected", d.recovered ? "Connected · replaying…" : "Connected");
    loading = snapshotDue = !d.recovered; showBusy();
    if (!d.recovered) refetch().then((ok) => { loading = false; snapshotDue &&= ok; showBusy(); });
  });
  on("stats", (s) => {
    snapshotDue = false; showBusy();
    setBadge(s.unread);
    if (replaying) {
      replaying = false;
      setState("connected", `Connected · replayed ${replayed} missed event${replayed === 1 ? "" : "s"}`);
    }
  });
  on("recent", (r) => {
    snapshotDue = false; showBusy();
    r.notifications.slice().reverse().forEach((n) => apply("recent", n));
  });
  const live = (kind) => (payload) => { if (replaying) replayed += 1; apply(kind, payload); };
  on("notification", live("created"));
  on("notification.updated", live("updated"));
  on("notification.deleted", live("deleted"));
  es.onerror = () => {
    if (es !== source) return;
    if (es.readyState === EventSource.CONNECTING) {   // the browser retries by itself
      setState("reconnecting", "Reconnecting…");
      return;
    }
    es.close();   // a non-200 answer (401, 429, 503): EventSource has given up for good
    diagnose();
  };
}
async function diagnose() {
  failures += 1;
  const delay = Math.min(30000, 1000 * 2 ** Math.min(failures - 1, 5)) * (0.8 + 0.4 * Math.random());
  const retry = `retrying in ${Math.round(delay / 1000)} s`;
  let kind = "offline", text = `Disconnected; ${retry}`;
  try {
    const res = await fetch(`${STREAM}/connections`, { headers: { Authorization: "Bearer " + token } });
    if (res.status === 401) {
      const exp = claims(token).exp;
      const why = exp && exp * 1000 < Date.now() ? "your token expired" : "the token was refused";
      kind = "signed-out"; text = `Signed out: ${why}; ${retry}`;
      $("signin-reason").textContent = `Signed out: ${why}. Paste a fresh token to continue.`;
      $("signin").hidden = false;
    } else if (res.ok) {
      text = `Stream refused (too many open tabs, or the server is restarting); ${retry}`;
    }
  } catch { text = `Server unreachable; ${retry}`; }
  setState(kind, text);
  reopenTimer = setTimeout(reopen, delay);
}
function reopen() {
  document.body.dataset.reopens = Number(document.body.dataset.reopens) + 1;
  open();
}
$("signin").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token-input").value.trim();
  if (!token) return;
  $("token-input").value = "";
  history.replaceState(null, "", `?token=${encodeURIComponent(token)}`);
  $("who").textContent = claims(token).sub ? `signed in as ${claims(token).sub}` : "";
  $("mark-all").disabled = false;
  failures = 0; setState("connecting", "Connecting…"); open();
});

if (token) {
  const sub = claims(token).sub;
  $("who").textContent = sub ? `signed in as ${sub}` : "";
  open();
} else {
  setState("signed-out", "Signed out");
  $("signin-reason").textContent = "Open this page as /?token=<jwt>, or paste a token.";
  $("signin").hidden = false;
  $("mark-all").disabled = true;
}
