// The demo inbox (DESIGN §5, §10, §13), built on the client every relay serves: one stream per
// browser however many tabs are open, token renewal, replay after a reconnect. The bell's badge
// counts unseen notifications; opening the list marks them seen.
import { createInbox } from "./qahub-notifications.js";
import { noteTypes, openPreferences, setUpPreferences } from "./demo-preferences.js";

const $ = (id) => document.getElementById(id);
const rows = new Map(); // id -> <li>

// The token is read from the address once and removed from it (history, Referer, screenshots);
// this tab keeps it in sessionStorage, so a reload stays signed in.
const KEY = "qahub-demo-token";
const params = new URLSearchParams(location.search);
let token = params.get("token") ?? sessionStorage.getItem(KEY) ?? "";
if (params.has("token")) {
  sessionStorage.setItem(KEY, token);
  params.delete("token");
  const query = params.toString();
  history.replaceState(null, "", `${location.pathname}${query ? `?${query}` : ""}${location.hash}`);
}

function claims(jwt) {
  try {
    const binary = atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
  } catch {
    return {};
  }
}
function summary(n) {
  const d = n.data;
  if (typeof d === "string") return d;
  if (d && typeof d === "object") return String(d.title ?? d.message ?? d.text ?? JSON.stringify(d));
  return String(d);
}

// ---- rendering ---------------------------------------------------------------------------------
function row(n) {
  const li = document.createElement("li");
  li.id = "n-" + n.id;
  li.dataset.id = n.id;
  li.innerHTML =
    '<div class="body"><p class="text"><span class="visually-hidden state"></span><span class="label"></span></p>' +
    '<div class="meta"><span class="type"></span> · <time></time></div></div>' +
    '<div class="actions"><button type="button" class="toggle" data-act="toggle"></button>' +
    '<button type="button" class="archive" data-act="archive">Archive</button>' +
    '<button type="button" class="delete" data-act="delete">Delete</button></div>';
  return li;
}
function fill(li, n) {
  const label = summary(n);
  const unread = !n.readAt;
  li.className = unread ? "unread" : "";
  li.dataset.createdAt = n.createdAt;
  li.querySelector(".state").textContent = unread ? "Unread: " : "Read: ";
  li.querySelector(".label").textContent = label;
  li.querySelector(".type").textContent = n.type;
  const time = li.querySelector("time");
  time.dateTime = n.createdAt;
  time.textContent = new Date(n.createdAt).toLocaleString();
  const toggle = li.querySelector(".toggle");
  toggle.textContent = unread ? "Mark read" : "Mark unread";
  toggle.setAttribute("aria-label", `${toggle.textContent}: ${label}`);
  li.querySelector(".archive").setAttribute("aria-label", `Archive: ${label}`);
  li.querySelector(".delete").setAttribute("aria-label", `Delete: ${label}`);
}
function renderList(notifications) {
  const list = $("list");
  const keep = new Set(notifications.map((n) => n.id));
  for (const [id, li] of rows) {
    if (keep.has(id)) continue;
    if (li.contains(document.activeElement)) {
      const next = li.nextElementSibling ?? li.previousElementSibling;
      (next?.querySelector("button") ?? $("bell")).focus();
    }
    li.remove();
    rows.delete(id);
  }
  notifications.forEach((n, i) => {
    let li = rows.get(n.id);
    if (!li) {
      li = row(n);
      rows.set(n.id, li);
    }
    fill(li, n);
    if (list.children[i] !== li) list.insertBefore(li, list.children[i] ?? null);
  });
  $("empty").hidden = notifications.length > 0;
}
// The badge counts what the user has not seen yet (DESIGN §13); unread rows keep their styling
// and the list's own count, so reading one in another tab leaves the badge as it is.
function renderCounts({ unseen, unread }) {
  const badge = $("badge");
  badge.textContent = unseen;
  badge.dataset.count = unseen;
  badge.setAttribute("aria-label", `${unseen} unseen`);
  $("bell").setAttribute("aria-label", `Notifications, ${unseen} unseen`);
  document.title = unseen > 0 ? `(${unseen}) QaHub inbox` : "QaHub inbox";
  $("unread").textContent = `${unread} unread`;
  $("mark-all").disabled = unread === 0;
}
function renderStatus(state) {
  const s = $("state");
  const { status, error } = state;
  let kind = status === "live" ? "connected" : status;
  let text = "Connecting…";
  if (status === "live") {
    const n = state.replayed;
    text = state.replaying ? "Connected · replaying…"
      : n > 0 ? `Connected · replayed ${n} missed event${n === 1 ? "" : "s"}` : "Connected";
  } else if (status === "reconnecting") {
    text = error ? `Reconnecting… (${error.message})` : "Reconnecting…";
  } else if (status === "signed-out") {
    text = `Signed out: ${error?.message ?? "no token"}`;
  }
  s.dataset.state = kind;
  s.textContent = text;
  const signedOut = status === "signed-out";
  $("signin").hidden = !signedOut;
  if (signedOut) $("signin-reason").textContent = `${text}. Paste a fresh token to continue.`;
}

let previous = null;
function render(state) {
  renderStatus(state);
  renderCounts(state.stats);
  renderList(state.notifications);
  noteTypes(state.notifications);
  $("list").setAttribute("aria-busy", String(state.loading));
  $("load-more").hidden = state.nextCursor === null;
  $("notice").textContent = state.error && state.status === "live" ? `Not done: ${state.error.message}` : "";
  if (previous && !previous.loading && state.latest && state.latest !== previous.latest) {
    $("announce").textContent = `New notification: ${summary(state.latest)}`;
  }
  if (previous && state.latest !== previous.latest) refused = false;
  previous = state;
  markSeen();
}

// ---- seen: an open list in a visible tab is a list the user has seen ---------------------------
// The badge clears when the API's `stats` says so (the client also clears it at once and puts it
// back if the API refuses). After a refusal it waits for the next opening or news, never loops.
let open = false;
let seeing = false; // a markSeen() on its way
let refused = false;
function markSeen() {
  const state = inbox?.getState();
  const looking = open && document.visibilityState === "visible";
  if (!state || !looking || seeing || refused || state.loading || state.status !== "live") return;
  if (state.stats.unseen === 0) return;
  seeing = true;
  inbox.markSeen().then((ok) => {
    seeing = false;
    refused = !ok;
    markSeen(); // news may have arrived while the answer was on its way
  });
}
function setOpen(next) {
  open = next;
  $("bell").setAttribute("aria-expanded", String(open));
  $("panel").hidden = !open;
  refused = false;
  markSeen();
}

// ---- wiring --------------------------------------------------------------------------------------
let inbox = null;
function start() {
  const sub = claims(token).sub;
  $("who").textContent = sub ? `signed in as ${sub}` : "";
  inbox = createInbox({ apiUrl: "", getToken: () => token });
  inbox.subscribe(render);
  setUpPreferences(inbox);
}
$("list").addEventListener("click", (e) => {
  const button = e.target.closest("button[data-act]");
  const id = button?.closest("li")?.dataset.id;
  const n = id && inbox?.getState().notifications.find((m) => m.id === id);
  if (!n) return;
  const label = summary(n);
  const act = button.dataset.act;
  const done = act === "toggle"
    ? inbox.markRead(id, !n.readAt).then((ok) => ok && `Marked ${n.readAt ? "unread" : "read"}: ${label}`)
    : act === "archive"
      ? inbox.archive(id).then((ok) => ok && `Archived: ${label}`)
      : inbox.remove(id).then((ok) => ok && `Deleted: ${label}`);
  done.then((said) => { if (said) $("announce").textContent = said; });
});
$("bell").addEventListener("click", () => setOpen(!open));
$("prefs-toggle").addEventListener("click", () => {
  const show = $("prefs").hidden;
  $("prefs-toggle").setAttribute("aria-expanded", String(show));
  $("prefs").hidden = !show;
  if (show) openPreferences();
});
document.addEventListener("visibilitychange", () => {
  refused = false;
  markSeen();
});
$("mark-all").addEventListener("click", () => inbox?.markAllRead());
$("load-more").addEventListener("click", () => inbox?.loadMore());
// A token pasted in one tab signs in this user's other tabs too (the tab that holds the
// stream may be another one): it goes to them over a channel of this origin only.
const peers = "BroadcastChannel" in window ? new BroadcastChannel("qahub-demo-token") : null;
function useToken(fresh) {
  token = fresh;
  sessionStorage.setItem(KEY, token);
  if (inbox) inbox.reconnect();
  else start();
}
peers?.addEventListener("message", (e) => {
  const sameUser = typeof e.data === "string" && token && claims(e.data).sub === claims(token).sub;
  if (sameUser) useToken(e.data);
});
$("signin").addEventListener("submit", (e) => {
  e.preventDefault();
  const fresh = $("token-input").value.trim();
  if (!fresh) return;
  $("token-input").value = "";
  useToken(fresh);
  peers?.postMessage(fresh);
});

if (token) {
  start();
} else {
  $("state").dataset.state = "signed-out";
  $("state").textContent = "Signed out";
  $("signin-reason").textContent = "Open this page as /?token=<jwt>, or paste a token.";
  $("signin").hidden = false;
  $("mark-all").disabled = true;
}
