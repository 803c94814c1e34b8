import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createInbox, type Inbox, type InboxOptions } from "./inbox.js";
import type { InboxState, Status } from "./reducer.js";
import { FIRST_RETRY_SPREAD_MS } from "./stream.js";
import { FakeEventSource, recorded, settle, token } from "./testing/fakes.js";

const fresh = recorded("fresh");
const replay = recorded("replay");
const page = { items: [], nextCursor: null };

interface Call {
  method: string;
  url: string;
  auth: string;
}

function fakeApi(answer: (call: Call) => Response = () => Response.json(page)) {
  const calls: Call[] = [];
  const fetchImpl = vi.fn(async (url: string | URL | Request, init?: RequestInit) => {
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const call = { method: init?.method ?? "GET", url: String(url), auth: headers.Authorization ?? "" };
    calls.push(call);
    return answer(call);
  });
  return { calls, fetch: fetchImpl as unknown as typeof fetch };
}

function open(options: Partial<InboxOptions> = {}): { inbox: Inbox; statuses: Status[]; states: InboxState[] } {
  const inbox = createInbox({
    apiUrl: "http://api.test",
    streamUrl: "http://relay.test",
    getToken: () => token("42", Date.now() / 1000 + 3600),
    EventSource: FakeEventSource as unknown as typeof EventSource,
    fetch: fakeApi().fetch,
    locks: undefined, // one tab: leads by itself
    ...options,
  });
  const statuses: Status[] = [];
  const states: InboxState[] = [];
  inbox.subscribe((state) => {
    states.push(state);
    if (statuses[statuses.length - 1] !== state.status) statuses.push(state.status);
  });
  return { inbox, statuses, states };
}

beforeEach(() => {
  FakeEventSource.all = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe("the connection's state machine", () => {
  it("goes connecting -> live, refetching the list over REST on recovered: false", async () => {
    const api = fakeApi(() => Response.json(page));
    const { inbox, statuses } = open({ fetch: api.fetch });
    await settle();
    const [source] = FakeEventSource.all;
    expect(source!.url).toMatch(/^http:\/\/relay\.test\/api\/v1\/notifications\/stream\?token=/);
    expect(source!.params.get("lastEventId")).toBeNull();
    for (const frame of fresh.slice(0, 3)) source!.send(frame);
    await settle();
    expect(statuses).toEqual(["connecting", "live"]);
    expect(api.calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      "GET http://api.test/api/v1/notifications?status=all&limit=50",
    ]);
    expect(inbox.getState().loading).toBe(false);
    expect(inbox.getState().notifications).toHaveLength(2); // recent, kept over an empty page
    inbox.close();
  });

  it("shows reconnecting while the browser retries, then live with what was replayed", async () => {
    const { inbox, statuses } = open();
    await settle();
    const source = FakeEventSource.all[0]!;
    for (const frame of fresh.slice(0, 5)) source.send(frame);
    source.fail(false);
    for (const frame of replay) source.send(frame);
    expect(statuses).toEqual(["connecting", "live", "reconnecting", "live"]);
    expect(inbox.getState().replayed).toBe(3);
    expect(FakeEventSource.all).toHaveLength(1); // the browser's own reconnect
    inbox.close();
  });

  it("on a refusal asks getToken() once and reopens with the last id, without signing out", async () => {
    vi.useFakeTimers();
    let n = 0;
    const getToken = vi.fn(() => token("42", Date.now() / 1000 + 3600, n++));
    const { inbox, statuses } = open({ getToken });
    await settle();
    const first = FakeEventSource.all[0]!;
    for (const frame of fresh.slice(0, 5)) first.send(frame);
    first.fail(true); // e.g. 401: EventSource gives up for good
    await vi.advanceTimersByTimeAsync(FIRST_RETRY_SPREAD_MS); // reopens within that
    expect(getToken).toHaveBeenCalledTimes(2);
    const second = FakeEventSource.all[1]!;
    expect(second.params.get("lastEventId")).toBe("2-9176533619c7");
    expect(second.params.get("token")).not.toBe(first.params.get("token"));
    expect(statuses).not.toContain("signed-out");
    inbox.close();
  });

  it("signs out when a fresh token is refused too (the API says 401)", async () => {
    const api = fakeApi(() => Response.json({ error: { code: "unauthorized", message: "expired" } }, { status: 401 }));
    vi.useFakeTimers();
    const { inbox } = open({ fetch: api.fetch, getToken: () => token("42", 1) });
    await settle();
    FakeEventSource.all[0]!.fail(true);
    await vi.advanceTimersByTimeAsync(FIRST_RETRY_SPREAD_MS);
    FakeEventSource.all[1]!.fail(true);
    await settle(50);
    expect(inbox.getState().status).toBe("signed-out");
    expect(inbox.getState().error).toMatchObject({ code: "unauthorized", message: "the token expired" });
    expect(api.calls.at(-1)!.url).toBe("http://relay.test/api/v1/notifications/stream/connections");
    inbox.close();
  });

  it("renews the token shortly before it expires and reopens from the last id, staying live", async () => {
    vi.useFakeTimers({ now: Date.parse("2026-12-06T10:00:00Z") });
    let n = 0;
    const getToken = vi.fn(() => token("42", Date.now() / 1000 + 12, n++));
    const { inbox, statuses } = open({ getToken });
    await vi.advanceTimersByTimeAsync(0);
    const first = FakeEventSource.all[0]!;
    for (const frame of fresh.slice(0, 5)) first.send(frame);
    await vi.advanceTimersByTimeAsync(9_000);
    expect(FakeEventSource.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000); // 12 s token: renewed 2.4 s before exp
    expect(getToken).toHaveBeenCalledTimes(2);
    expect(first.readyState).toBe(FakeEventSource.CLOSED);
    const second = FakeEventSource.all[1]!;
    expect(second.params.get("lastEventId")).toBe("2-9176533619c7");
    second.send({ event: "connected", data: { ...replay[0]!.data, recovered: true } } as never);
    expect(statuses).toEqual(["connecting", "live"]);
    inbox.close();
  });
});

describe("actions", () => {
  it("roll back and report when the API refuses", async () => {
    const api = fakeApi((call) =>
      call.method === "PATCH"
        ? Response.json({ error: { code: "not_found", message: "no such notification" } }, { status: 404 })
        : Response.json(page),
    );
    const { inbox } = open({ fetch: api.fetch });
    await settle();
    for (const frame of fresh.slice(0, 3)) FakeEventSource.all[0]!.send(frame);
    await settle();
    const id = inbox.getState().notifications[0]!.id;
    const { markRead } = inbox; // methods work unbound too (onClick={markRead})
    const done = markRead(id, true);
    expect(inbox.getState().stats.unread).toBe(1); // at once
    expect(await done).toBe(false);
    expect(inbox.getState().stats.unread).toBe(2);
    expect(inbox.getState().notifications[0]!.readAt).toBeNull();
    expect(inbox.getState().error).toEqual({ code: "not_found", message: "no such notification", status: 404 });
    inbox.close();
  });

  it("retry once with a fresh token on a 401", async () => {
    let n = 0;
    const api = fakeApi((call) =>
      call.method === "DELETE" && n === 1 ? new Response(null, { status: 401 }) : new Response(null, { status: 204 }),
    );
    const { inbox } = open({ fetch: api.fetch, getToken: () => token("42", Date.now() / 1000 + 60, n++) });
    await settle();
    expect(await inbox.remove("some-id")).toBe(true);
    const deletes = api.calls.filter((c) => c.method === "DELETE");
    expect(deletes).toHaveLength(2);
    expect(deletes[0]!.auth).not.toBe(deletes[1]!.auth);
    inbox.close();
  });
});
