import { describe, expect, it } from "vitest";
import type { Notification } from "./contracts.js";
import { undoFor } from "./optimistic.js";
import { initialState, reduce, type Action, type Frame, type InboxState } from "./reducer.js";
import { recorded } from "./testing/fakes.js";

const run = (frames: readonly Frame[], from: InboxState = initialState): InboxState =>
  frames.reduce((state, frame) => reduce(state, { type: "frame", frame }), from);
const ids = (state: InboxState): string[] => state.notifications.map((n) => n.id);
const fresh = recorded("fresh");
const replay = recorded("replay");
const note = (id: string, createdAt: string, readAt: string | null = null): Notification => ({
  id,
  type: "t",
  notifiableType: "user",
  notifiableId: "42",
  data: id,
  readAt,
  createdAt,
  seenAt: readAt,
  archivedAt: null,
});

describe("a recorded session (connect, snapshot, create, read, delete, read all)", () => {
  it("ends with the list and the badge the relay's last stats describe", () => {
    const state = run(fresh);
    expect(state.status).toBe("live");
    expect(state.stats).toEqual({ total: 2, unread: 0, read: 2, unseen: 0 });
    expect(state.notifications).toHaveLength(2);
    expect(state.notifications.every((n) => n.readAt !== null)).toBe(true);
    expect(state.lastEventId).toBe("5-70b958f10a77");
    expect(state.latest?.data).toEqual({ title: "Build 412 failed" });
  });

  it("lists newest first", () => {
    const afterCreate = run(fresh.slice(0, 4));
    expect(afterCreate.notifications.map((n) => n.type)).toEqual(["build.failed", "mention", "invoice.paid"]);
  });

  it("changes nothing when every frame arrives twice", () => {
    const twice = run(fresh.flatMap((f) => [f, f]));
    const once = run(fresh);
    expect(twice.notifications).toEqual(once.notifications);
    expect(twice.stats).toEqual(once.stats);
  });

  it("reaches the same list through a recovered reconnect, counting what was replayed", () => {
    const beforeDrop = run(fresh.slice(0, 5)); // up to the creation's stats, id 2-…
    expect(beforeDrop.lastEventId).toBe("2-9176533619c7");
    const resumed = run(replay, beforeDrop);
    expect(resumed.notifications).toEqual(run(fresh).notifications);
    expect(resumed.stats).toEqual({ total: 2, unread: 0, read: 2, unseen: 0 });
    expect(resumed.replayed).toBe(3);
    expect(resumed.replaying).toBe(false);
  });

  it("counts replayed events only until the replay's stats", () => {
    const resumed = run(replay.slice(0, 3), run(fresh.slice(0, 5)));
    expect(resumed.replaying).toBe(true);
    expect(resumed.replayed).toBe(2);
  });
});

describe("an unrecovered connect", () => {
  const connected = fresh[0] as Frame;

  it("is loading until both the REST page and the snapshot are in", () => {
    let state = run([connected]);
    expect(state.loading).toBe(true);
    state = reduce(state, { type: "page", items: [], nextCursor: null, replace: true });
    expect(state.loading).toBe(true);
    state = run(fresh.slice(1, 3), state);
    expect(state.loading).toBe(false);
  });

  it("re-applies what arrived during the refetch on top of the page", () => {
    const live = note("live", "2026-12-06T10:00:05Z");
    const old = note("old", "2026-12-06T10:00:00Z");
    let state = run([connected, { event: "notification", id: "9-aaaaaaaaaaaa", data: live }]);
    state = reduce(state, { type: "page", items: [old], nextCursor: null, replace: true });
    expect(ids(state)).toEqual(["live", "old"]);
    expect(state.held).toBeNull();
    expect(state.lastEventId).toBe("9-aaaaaaaaaaaa");
  });

  it("keeps what it has when the API cannot be reached", () => {
    let state = run(fresh.slice(0, 3));
    state = reduce(state, { type: "page-failed", error: { code: "unreachable", message: "x" } });
    expect(state.loading).toBe(false);
    expect(state.notifications).toHaveLength(2);
  });
});

describe("pages", () => {
  const a = note("a", "2026-12-06T10:00:03Z");
  const b = note("b", "2026-12-06T10:00:02Z");
  const c = note("c", "2026-12-06T10:00:01Z");

  it("appends older pages below and skips what is listed already", () => {
    let state = reduce(initialState, { type: "page", items: [a, b], nextCursor: "p2", replace: true });
    state = reduce(state, { type: "page", items: [b, c], nextCursor: null, replace: false });
    expect(ids(state)).toEqual(["a", "b", "c"]);
    expect(state.nextCursor).toBeNull();
  });

  it("ignores an update of a notification older than the loaded pages", () => {
    const state = reduce(initialState, { type: "page", items: [a], nextCursor: "p2", replace: true });
    const next = reduce(state, {
      type: "frame",
      frame: { event: "notification.updated", id: "1-x", data: { ...c, readAt: "2026-12-06T11:00:00Z" } },
    });
    expect(ids(next)).toEqual(["a"]);
    expect(next.lastEventId).toBe("1-x");
  });
});

describe("optimistic actions", () => {
  const base = run(fresh.slice(0, 3)); // two unread, stats 2/2/0

  it("mark read changes the row and the badge at once, and a rollback restores both", () => {
    const id = base.notifications[0]!.id;
    const change = { kind: "read", id, read: true, at: "2026-12-06T11:00:00Z" } as const;
    const undo = undoFor(base, change);
    const marked = reduce(base, { type: "local", change });
    expect(marked.stats).toEqual({ total: 2, unread: 1, read: 1, unseen: 1 });
    expect(marked.notifications[0]!.readAt).toBe("2026-12-06T11:00:00Z");
    const error = { code: "not_found", message: "gone", status: 404 };
    const back = reduce(marked, { type: "rollback", undo, error });
    expect(back.stats).toEqual(base.stats);
    expect(back.notifications).toEqual(base.notifications);
    expect(back.error).toEqual(error);
  });

  it("a rollback after a stats frame keeps the server's exact counts", () => {
    const change = { kind: "read-all", at: "2026-12-06T11:00:00Z" } as const;
    const undo = undoFor(base, change);
    let state = reduce(base, { type: "local", change });
    expect(state.stats.unread).toBe(0);
    const exact = { total: 3, unread: 3, read: 0, unseen: 3 };
    state = reduce(state, { type: "frame", frame: { event: "stats", data: exact } });
    state = reduce(state, { type: "rollback", undo, error: { code: "x", message: "x" } });
    expect(state.stats).toEqual(exact);
    expect(state.notifications.every((n) => n.readAt === null)).toBe(true);
  });

  it("remove takes the row out and puts it back in place on a rollback", () => {
    const [first, second] = base.notifications;
    const change = { kind: "remove", id: second!.id } as const;
    const undo = undoFor(base, change);
    const removed = reduce(base, { type: "local", change });
    expect(ids(removed)).toEqual([first!.id]);
    expect(removed.stats).toEqual({ total: 1, unread: 1, read: 0, unseen: 1 });
    const back = reduce(removed, { type: "rollback", undo, error: { code: "x", message: "x" } });
    expect(ids(back)).toEqual(ids(base));
  });
});

describe("seen and archived (DESIGN §13)", () => {
  const base = run(fresh.slice(0, 3)); // two unread, unseen

  it("seen-all clears the badge without reading, and a rollback restores it", () => {
    const change = { kind: "seen-all", at: "2026-12-06T11:00:00Z" } as const;
    const undo = undoFor(base, change);
    const seen = reduce(base, { type: "local", change });
    expect(seen.stats).toEqual({ ...base.stats, unseen: 0 });
    expect(seen.notifications.every((n) => n.seenAt !== null && n.readAt === null)).toBe(true);
    const back = reduce(seen, { type: "rollback", undo, error: { code: "x", message: "x" } });
    expect(back.stats).toEqual(base.stats);
  });

  it("archive takes the row out of the list and the counts", () => {
    const [first, second] = base.notifications;
    const archived = reduce(base, { type: "local", change: { kind: "archive", id: second!.id } });
    expect(ids(archived)).toEqual([first!.id]);
    expect(archived.stats).toEqual({ total: 1, unread: 1, read: 0, unseen: 1 });
  });

  it("an updated frame of an archived notification removes it (another tab archived it)", () => {
    const [first, second] = base.notifications;
    const data = { ...second!, archivedAt: "2026-12-06T11:00:00Z" };
    const next = reduce(base, { type: "frame", frame: { event: "notification.updated", id: "9-x", data } });
    expect(ids(next)).toEqual([first!.id]);
    expect(next.lastEventId).toBe("9-x");
  });
});

describe("status", () => {
  it("never mutates the state it is given", () => {
    const frozen = Object.freeze({ ...initialState });
    const actions: Action[] = [
      { type: "status", status: "reconnecting" },
      { type: "frame", frame: fresh[0]! },
    ];
    for (const action of actions) expect(() => reduce(frozen, action)).not.toThrow();
    expect(frozen.status).toBe("connecting");
  });
});
