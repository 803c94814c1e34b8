// @qahub/notifications, built from clients/typescript by `npm run bundle`: do not edit.
// Usage: import { createInbox } from "/static/qahub-notifications.js";
var __defProp = Object.defineProperty;
var __defNormalProp = (obj, key, value) => key in obj ? __defProp(obj, key, { enumerable: true, configurable: true, writable: true, value }) : obj[key] = value;
var __publicField = (obj, key, value) => __defNormalProp(obj, typeof key !== "symbol" ? key + "" : key, value);

// src/leader.ts
function defaultLocks() {
  const nav = globalThis.navigator;
  return nav?.locks;
}
function defaultChannel() {
  const BC = globalThis.BroadcastChannel;
  return BC === void 0 ? void 0 : (name) => new BC(name);
}
function join(options) {
  const locks = "locks" in options ? options.locks : defaultLocks();
  const open = "channel" in options ? options.channel : defaultChannel();
  let leading = false;
  let closed = false;
  let resign = null;
  if (locks === void 0 || open === void 0) {
    leading = true;
    resign = options.lead();
    return {
      get leading() {
        return leading;
      },
      shared: false,
      post() {
      },
      close() {
        if (closed) return;
        closed = true;
        resign?.();
      }
    };
  }
  const channel = open(options.name);
  channel.addEventListener("message", (event) => {
    if (!closed) options.receive(event.data);
  });
  const abort = new AbortController();
  let release = () => {
  };
  const released = new Promise((resolve) => {
    release = resolve;
  });
  locks.request(options.name, { signal: abort.signal }, async () => {
    if (closed) return;
    leading = true;
    resign = options.lead();
    await released;
  }).catch(() => {
  });
  return {
    get leading() {
      return leading;
    },
    shared: true,
    post(message) {
      if (!closed) channel.postMessage(message);
    },
    close() {
      if (closed) return;
      closed = true;
      resign?.();
      leading = false;
      abort.abort();
      release();
      channel.close();
    }
  };
}

// src/order.ts
var time = (n) => Date.parse(n.createdAt);
function upsert(list, n) {
  const at = list.findIndex((m) => m.id === n.id);
  if (at >= 0) return list.map((m, i) => i === at ? n : m);
  const created = time(n);
  const before = list.findIndex((m) => time(m) <= created);
  return before < 0 ? [...list, n] : [...list.slice(0, before), n, ...list.slice(before)];
}
function appendOlder(list, n) {
  if (list.some((m) => m.id === n.id)) return list;
  const created = time(n);
  const after = list.findIndex((m) => time(m) < created);
  return after < 0 ? [...list, n] : [...list.slice(0, after), n, ...list.slice(after)];
}
function withinLoaded(list, complete, n) {
  const oldest = list[list.length - 1];
  return complete || oldest === void 0 || time(n) >= time(oldest);
}

// src/optimistic.ts
var zero = { total: 0, unread: 0, read: 0, unseen: 0 };
var unseen = (n) => n.seenAt == null ? 1 : 0;
function undoFor(state, change) {
  const before = state.notifications.filter(
    (n) => change.kind === "read-all" ? n.readAt === null : change.kind === "seen-all" ? n.seenAt == null : n.id === change.id
  );
  const target = before[0];
  let delta = zero;
  if (change.kind === "read-all") {
    delta = { total: 0, unread: -state.stats.unread, read: state.stats.unread, unseen: -state.stats.unseen };
  } else if (target !== void 0 && change.kind === "read" && target.readAt === null === change.read) {
    const d = change.read ? 1 : -1;
    delta = { total: 0, unread: -d, read: d, unseen: change.read ? -unseen(target) : 0 };
  } else if (change.kind === "seen-all") {
    delta = { ...zero, unseen: -state.stats.unseen };
  } else if (target !== void 0 && (change.kind === "remove" || change.kind === "archive")) {
    const unread = target.readAt === null ? 1 : 0;
    delta = { total: -1, unread: -unread, read: unread - 1, unseen: -unseen(target) };
  }
  return { before, delta, statsSeen: state.statsSeen };
}
function plus(a, b, sign) {
  return {
    total: Math.max(0, a.total + sign * b.total),
    unread: Math.max(0, a.unread + sign * b.unread),
    read: Math.max(0, a.read + sign * b.read),
    unseen: Math.max(0, a.unseen + sign * b.unseen)
  };
}
function applyLocal(state, change) {
  const { delta } = undoFor(state, change);
  const stats = plus(state.stats, delta, 1);
  if (change.kind === "remove" || change.kind === "archive") {
    return { ...state, stats, notifications: state.notifications.filter((n) => n.id !== change.id) };
  }
  const notifications = state.notifications.map((n) => {
    const seenAt = n.seenAt ?? change.at;
    if (change.kind === "seen-all") return n.seenAt == null ? { ...n, seenAt } : n;
    if (change.kind === "read-all") return n.readAt === null ? { ...n, readAt: change.at, seenAt } : n;
    if (n.id !== change.id) return n;
    return change.read ? { ...n, readAt: n.readAt ?? change.at, seenAt } : { ...n, readAt: null };
  });
  return { ...state, stats, notifications };
}
function applyRollback(state, undo, error) {
  let list = state.notifications;
  for (const n of undo.before) list = upsert(list, n);
  const stats = state.statsSeen === undo.statsSeen ? plus(state.stats, undo.delta, -1) : state.stats;
  return { ...state, notifications: list, stats, error };
}

// src/reducer.ts
var initialState = {
  notifications: [],
  stats: { total: 0, unread: 0, read: 0, unseen: 0 },
  status: "connecting",
  replayed: 0,
  error: null,
  loading: true,
  nextCursor: null,
  lastEventId: null,
  latest: null,
  replaying: false,
  held: null,
  snapshotDue: false,
  statsSeen: 0
};
function settle(state) {
  const loading = state.held !== null || state.snapshotDue;
  return loading === state.loading ? state : { ...state, loading };
}
function applyFrame(state, frame) {
  switch (frame.event) {
    case "connected": {
      const { recovered } = frame.data;
      return {
        ...state,
        status: "live",
        error: null,
        replaying: recovered,
        replayed: 0,
        // Not recovered: the list may be stale; it is refetched and the snapshot follows.
        held: recovered ? null : [],
        snapshotDue: !recovered
      };
    }
    case "stats":
      return {
        ...state,
        stats: withUnseen(frame.data),
        statsSeen: state.statsSeen + 1,
        replaying: false,
        snapshotDue: false
      };
    case "recent": {
      let list = state.notifications;
      for (const n of [...frame.data.notifications].reverse()) list = upsert(list, n);
      return { ...state, notifications: list, snapshotDue: false };
    }
    case "notification":
    case "notification.updated": {
      if (frame.data.archivedAt != null) {
        return { ...counted(state, frame.id), notifications: state.notifications.filter((m) => m.id !== frame.data.id) };
      }
      const known = state.notifications.some((m) => m.id === frame.data.id);
      const fresh = frame.event === "notification" && !known;
      const keep = known || fresh || withinLoaded(state.notifications, state.nextCursor === null, frame.data);
      return {
        ...counted(state, frame.id),
        notifications: keep ? upsert(state.notifications, frame.data) : state.notifications,
        latest: fresh ? frame.data : state.latest
      };
    }
    case "notification.deleted":
      return {
        ...counted(state, frame.id),
        notifications: state.notifications.filter((m) => m.id !== frame.data.id)
      };
  }
}
function counted(state, id) {
  return {
    ...state,
    lastEventId: id ?? state.lastEventId,
    replayed: state.replaying ? state.replayed + 1 : state.replayed
  };
}
function applyPage(state, action) {
  if (!action.replace) {
    let list = state.notifications;
    for (const n of action.items) list = appendOlder(list, n);
    return { ...state, notifications: list, nextCursor: action.nextCursor };
  }
  let next = {
    ...state,
    notifications: action.items,
    nextCursor: action.nextCursor,
    held: null
  };
  for (const frame of state.held ?? []) {
    if (frame.event !== "connected" && frame.event !== "stats") next = applyFrame(next, frame);
  }
  return { ...next, latest: state.latest, lastEventId: state.lastEventId, replayed: state.replayed };
}
function withUnseen(stats) {
  return stats.unseen === void 0 ? { ...stats, unseen: stats.unread } : stats;
}
function reduce(state, action) {
  switch (action.type) {
    case "frame": {
      const held = state.held === null ? null : [...state.held, action.frame];
      return settle(applyFrame({ ...state, held }, action.frame));
    }
    case "status":
      return { ...state, status: action.status, error: action.error ?? state.error };
    case "page":
      return settle(applyPage(state, action));
    case "page-failed":
      return settle({ ...state, held: null, error: action.error });
    case "local":
      return { ...applyLocal(state, action.change), error: null };
    case "rollback":
      return applyRollback(state, action.undo, action.error);
    case "error":
      return { ...state, error: action.error };
    case "adopt":
      return action.state;
  }
}

// src/rest.ts
var API_PATH = "/api/v1/notifications";
var PAGE_SIZE = 50;
var RestError = class extends Error {
  constructor(code, message, status) {
    super(message);
    __publicField(this, "code", code);
    __publicField(this, "status", status);
    this.name = "RestError";
  }
};
async function errorOf(answer) {
  let body = null;
  try {
    body = await answer.json();
  } catch {
  }
  const detail = body?.error;
  const code = typeof detail?.code === "string" ? detail.code : `http_${answer.status}`;
  const message = typeof detail?.message === "string" ? detail.message : `HTTP ${answer.status}`;
  return new RestError(code, message, answer.status);
}
var Rest = class {
  constructor(baseUrl, tokens, fetchImpl) {
    __publicField(this, "baseUrl", baseUrl);
    __publicField(this, "tokens", tokens);
    __publicField(this, "fetch");
    this.fetch = fetchImpl ?? globalThis.fetch.bind(globalThis);
  }
  /** One page of the caller's notifications, newest first. */
  page(cursor = null) {
    const query = `?status=all&limit=${PAGE_SIZE}${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`;
    return this.call("GET", query);
  }
  markRead(id, read) {
    return this.call("PATCH", `/${encodeURIComponent(id)}`, { read });
  }
  remove(id) {
    return this.call("DELETE", `/${encodeURIComponent(id)}`);
  }
  markAllRead() {
    return this.call("POST", "/read", {});
  }
  markSeen() {
    return this.call("POST", "/seen", {});
  }
  archive(id) {
    return this.call("POST", "/archive", { ids: [id] });
  }
  preferences() {
    return this.call("GET", "/preferences");
  }
  setPreferences(preferences) {
    return this.call("PUT", "/preferences", preferences);
  }
  async call(method, path, body) {
    let answer = await this.send(method, path, await this.tokens.current(), body);
    if (answer.status === 401) {
      answer = await this.send(method, path, await this.tokens.renew(), body);
    }
    if (!answer.ok) throw await errorOf(answer);
    return answer.status === 204 ? {} : await answer.json();
  }
  async send(method, path, token, body) {
    const headers = { Authorization: `Bearer ${token}` };
    if (body !== void 0) headers["Content-Type"] = "application/json";
    try {
      return await this.fetch(`${this.baseUrl}${API_PATH}${path}`, {
        method,
        headers,
        ...body === void 0 ? {} : { body: JSON.stringify(body) }
      });
    } catch {
      throw new RestError("unreachable", "the API is unreachable");
    }
  }
};

// src/stream.ts
var STREAM_PATH = "/api/v1/notifications/stream";
var EVENTS = ["connected", "stats", "recent", "notification", "notification.updated", "notification.deleted"];
var FIRST_RETRY_SPREAD_MS = 1e3;
function backoff(failures, random = Math.random) {
  return Math.min(3e4, 1e3 * 2 ** Math.min(failures - 1, 5)) * (0.8 + 0.4 * random());
}
var LiveStream = class {
  constructor(options) {
    __publicField(this, "options", options);
    __publicField(this, "source", null);
    __publicField(this, "timer");
    __publicField(this, "renewal");
    __publicField(this, "failures", 0);
    __publicField(this, "renewedAfterRefusal", false);
    __publicField(this, "closed", false);
    __publicField(this, "ES");
    __publicField(this, "fetch");
    this.ES = options.EventSource ?? globalThis.EventSource;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }
  /** Opens the stream now with the current token (or a fresh one when `renew`). */
  async open(renew = false) {
    clearTimeout(this.timer);
    let token;
    try {
      token = renew ? await this.options.tokens.renew() : await this.options.tokens.current();
    } catch (error) {
      this.refused({ code: "token_unavailable", message: `getToken() failed: ${String(error)}` });
      return;
    }
    if (this.closed) return;
    this.source?.close();
    const last = this.options.lastEventId();
    let url = `${this.options.baseUrl}${STREAM_PATH}?token=${encodeURIComponent(token)}`;
    if (last !== null) url += `&lastEventId=${encodeURIComponent(last)}`;
    const source = new this.ES(url);
    this.source = source;
    for (const name of EVENTS) {
      source.addEventListener(name, (e) => this.receive(source, name, e));
    }
    source.onerror = () => this.failed(source);
  }
  /** Stops for good: no reopen, no renewal. */
  close() {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.renewal);
    this.source?.close();
    this.source = null;
  }
  receive(source, name, event) {
    if (source !== this.source) return;
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    const id = event.lastEventId === "" ? null : event.lastEventId;
    if (name === "connected") {
      this.failures = 0;
      this.renewedAfterRefusal = false;
      this.scheduleRenewal();
    }
    this.options.handlers.frame({ event: name, data, id });
  }
  scheduleRenewal() {
    clearTimeout(this.renewal);
    const wait = this.options.tokens.renewIn();
    if (wait === null) return;
    const longest = 2 ** 31 - 1;
    this.renewal = setTimeout(() => {
      if (wait > longest) this.scheduleRenewal();
      else void this.open(true);
    }, Math.min(wait, longest));
  }
  failed(source) {
    if (source !== this.source || this.closed) return;
    if (source.readyState === this.ES.CONNECTING) {
      this.options.handlers.status("reconnecting", null);
      return;
    }
    source.close();
    clearTimeout(this.renewal);
    if (!this.renewedAfterRefusal) {
      this.renewedAfterRefusal = true;
      this.timer = setTimeout(() => void this.open(true), FIRST_RETRY_SPREAD_MS * Math.random());
      return;
    }
    void this.diagnose();
  }
  async diagnose() {
    let status = "reconnecting";
    let error = { code: "stream_refused", message: "the stream was refused" };
    try {
      const token = await this.options.tokens.current();
      const answer = await this.fetch(`${this.options.baseUrl}${STREAM_PATH}/connections`, {
        headers: { Authorization: `Bearer ${token}` }
      });
      if (answer.status === 401) {
        status = "signed-out";
        const why = this.options.tokens.expired() ? "the token expired" : "the token was refused";
        error = { code: "unauthorized", message: why, status: 401 };
      } else if (answer.ok) {
        error = {
          code: "stream_refused",
          message: "too many open streams, or the server is restarting"
        };
      }
    } catch {
      error = { code: "unreachable", message: "the server is unreachable" };
    }
    this.refused(error, status);
  }
  refused(error, status = "reconnecting") {
    if (this.closed) return;
    this.failures += 1;
    this.options.handlers.status(status, error);
    this.timer = setTimeout(() => {
      void this.open(true);
    }, backoff(this.failures));
  }
};

// src/token.ts
function claimsOf(token) {
  const part = token.split(".")[1];
  if (part === void 0) return {};
  try {
    const bytes = Uint8Array.from(
      atob(part.replace(/-/g, "+").replace(/_/g, "/")),
      (c) => c.charCodeAt(0)
    );
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    const usable = typeof claims === "object" && claims !== null && !Array.isArray(claims);
    return usable ? claims : {};
  } catch {
    return {};
  }
}
function renewalLead(lifetimeMs) {
  return Math.min(6e4, Math.max(1e3, lifetimeMs / 5));
}
var TokenKeeper = class {
  constructor(getToken, now = Date.now) {
    __publicField(this, "getToken", getToken);
    __publicField(this, "now", now);
    __publicField(this, "token", null);
    __publicField(this, "asking", null);
  }
  /** The current token, asking getToken() for the first one. */
  current() {
    return this.token !== null ? Promise.resolve(this.token) : this.renew();
  }
  /** A fresh token from getToken(); callers that ask meanwhile share the same answer. */
  renew() {
    if (this.asking === null) {
      this.asking = Promise.resolve().then(() => this.getToken()).then(
        (token) => {
          this.token = token;
          this.asking = null;
          return token;
        },
        (error) => {
          this.asking = null;
          throw error;
        }
      );
    }
    return this.asking;
  }
  /** Milliseconds until the current token should be renewed; null when it has no `exp`. */
  renewIn() {
    const exp = this.token === null ? void 0 : claimsOf(this.token).exp;
    if (exp === void 0) return null;
    const left = exp * 1e3 - this.now();
    return Math.max(0, left - renewalLead(left));
  }
  /** True when the current token's `exp` has passed. */
  expired() {
    const exp = this.token === null ? void 0 : claimsOf(this.token).exp;
    return exp !== void 0 && exp * 1e3 <= this.now();
  }
};

// src/inbox.ts
function absolute(url) {
  const here = globalThis.location?.href;
  return here === void 0 ? url : new URL(url || "/", here).href.replace(/\/$/, "");
}
function createInbox(options) {
  const inbox = new TabInbox(options);
  void inbox.start();
  return inbox;
}
var TabInbox = class {
  constructor(options) {
    __publicField(this, "options", options);
    __publicField(this, "streamUrl");
    __publicField(this, "tokens");
    __publicField(this, "rest");
    __publicField(this, "tab", Math.random().toString(36).slice(2));
    __publicField(this, "listeners", /* @__PURE__ */ new Set());
    __publicField(this, "state", initialState);
    __publicField(this, "group", null);
    __publicField(this, "stream", null);
    __publicField(this, "closed", false);
    __publicField(this, "subscribe", (listener) => {
      this.listeners.add(listener);
      listener(this.state);
      return () => {
        this.listeners.delete(listener);
      };
    });
    __publicField(this, "getState", () => this.state);
    __publicField(this, "markRead", (id, read = true) => {
      const change = { kind: "read", id, read, at: (/* @__PURE__ */ new Date()).toISOString() };
      return this.act(change, () => this.rest.markRead(id, read));
    });
    __publicField(this, "remove", (id) => {
      return this.act({ kind: "remove", id }, () => this.rest.remove(id));
    });
    __publicField(this, "markAllRead", () => {
      const change = { kind: "read-all", at: (/* @__PURE__ */ new Date()).toISOString() };
      return this.act(change, () => this.rest.markAllRead());
    });
    __publicField(this, "markSeen", () => {
      if (this.state.stats.unseen === 0) return Promise.resolve(true);
      const change = { kind: "seen-all", at: (/* @__PURE__ */ new Date()).toISOString() };
      return this.act(change, () => this.rest.markSeen());
    });
    __publicField(this, "archive", (id) => {
      return this.act({ kind: "archive", id }, () => this.rest.archive(id));
    });
    __publicField(this, "preferences", () => this.rest.preferences());
    __publicField(this, "setPreferences", (preferences) => this.rest.setPreferences(preferences));
    __publicField(this, "loadMore", async () => {
      if (this.state.nextCursor === null) return false;
      try {
        const page = await this.rest.page(this.state.nextCursor);
        this.dispatch({ type: "page", items: page.items, nextCursor: page.nextCursor, replace: false });
        return true;
      } catch (error) {
        this.dispatch({ type: "error", error: asError(error) });
        return false;
      }
    });
    __publicField(this, "reconnect", () => {
      if (this.group === null) void this.start();
      else if (this.group.leading) void this.stream?.open(true);
      else this.share({ kind: "reconnect" });
    });
    __publicField(this, "close", () => {
      this.closed = true;
      this.group?.close();
      this.listeners.clear();
    });
    const apiUrl = options.apiUrl ?? "";
    this.streamUrl = options.streamUrl ?? apiUrl;
    this.tokens = new TokenKeeper(options.getToken);
    this.rest = new Rest(apiUrl, this.tokens, options.fetch);
  }
  /** Joins the tabs of this origin and user (named after the token's `sub`). */
  async start() {
    let token;
    try {
      token = await this.tokens.current();
    } catch (error) {
      this.dispatch({ type: "status", status: "signed-out", error: asError(error) });
      return;
    }
    if (this.closed || this.group !== null) return;
    const name = `qahub-notifications ${absolute(this.streamUrl)} ${claimsOf(token).sub ?? ""}`;
    const { locks, channel } = this.options;
    this.group = join({
      name,
      lead: () => this.lead(),
      receive: (message) => this.receive(message),
      ..."locks" in this.options ? { locks } : {},
      ..."channel" in this.options ? { channel } : {}
    });
    if (!this.group.leading) this.share({ kind: "hello", from: this.tab });
  }
  dispatch(action) {
    const next = reduce(this.state, action);
    if (next === this.state) return;
    this.state = next;
    for (const listener of [...this.listeners]) listener(next);
  }
  share(message) {
    this.group?.post(message);
  }
  /** This tab now holds the browser's stream: every frame and status goes to the others too. */
  lead() {
    if (this.state.status === "live") this.dispatch({ type: "status", status: "reconnecting" });
    const { EventSource, fetch } = this.options;
    const stream = new LiveStream({
      baseUrl: this.streamUrl,
      tokens: this.tokens,
      lastEventId: () => this.state.lastEventId,
      ...EventSource ? { EventSource } : {},
      ...fetch ? { fetch } : {},
      handlers: {
        frame: (frame) => {
          this.dispatch({ type: "frame", frame });
          this.share({ kind: "frame", frame });
          if (frame.event === "connected" && !frame.data.recovered) void this.refetch();
        },
        status: (status, error) => {
          this.dispatch({ type: "status", status, error });
          this.share({ kind: "status", status, error });
        }
      }
    });
    this.stream = stream;
    void stream.open();
    return () => {
      stream.close();
      this.stream = null;
    };
  }
  /** After `recovered: false` the list may be stale: the first page again, for every tab. */
  async refetch() {
    let action;
    try {
      const page = await this.rest.page();
      action = { type: "page", items: page.items, nextCursor: page.nextCursor, replace: true };
    } catch (error) {
      action = { type: "page-failed", error: asError(error) };
    }
    if (this.closed) return;
    this.dispatch(action);
    this.share({ kind: "page", action });
  }
  receive(message) {
    const leading = this.group?.leading ?? false;
    switch (message.kind) {
      case "frame":
        return this.dispatch({ type: "frame", frame: message.frame });
      case "status":
        return this.dispatch({ type: "status", status: message.status, error: message.error });
      case "page":
        return this.dispatch(message.action);
      case "hello":
        if (leading) this.share({ kind: "state", to: message.from, state: this.state });
        return;
      case "state":
        if (message.to === this.tab && !leading) this.dispatch({ type: "adopt", state: message.state });
        return;
      case "reconnect":
        if (leading) void this.stream?.open(true);
    }
  }
  /** Applies `change` now; undoes it if the API refuses. */
  async act(change, call) {
    const undo = undoFor(this.state, change);
    this.dispatch({ type: "local", change });
    try {
      await call();
      return true;
    } catch (error) {
      this.dispatch({ type: "rollback", undo, error: asError(error) });
      return false;
    }
  }
};
function asError(error) {
  if (error instanceof RestError) {
    return { code: error.code, message: error.message, ...error.status ? { status: error.status } : {} };
  }
  return { code: "error", message: error instanceof Error ? error.message : String(error) };
}
export {
  createInbox
};
