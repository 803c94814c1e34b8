// Optimistic changes (DESIGN §10): an action shows at once, before the API answers, and a
// refusal puts back exactly what it changed. The counters move by the change's delta; a
// rollback reverses that delta unless a `stats` frame (exact, without the refused change)
// arrived in between.
import type { Notification, Stats } from "./contracts.js";
import { upsert } from "./order.js";
import type { InboxError, InboxState } from "./reducer.js";

/** An optimistic change made before the API answers; rolled back if it refuses. */
export type LocalChange =
  | { readonly kind: "read"; readonly id: string; readonly read: boolean; readonly at: string }
  | { readonly kind: "remove"; readonly id: string }
  | { readonly kind: "archive"; readonly id: string }
  | { readonly kind: "read-all"; readonly at: string }
  | { readonly kind: "seen-all"; readonly at: string };

/** What a rollback puts back: the notifications as they were and the counters' change. */
export interface Undo {
  readonly before: readonly Notification[];
  readonly delta: Stats;
  readonly statsSeen: number;
}

const zero: Stats = { total: 0, unread: 0, read: 0, unseen: 0 };

const unseen = (n: Notification): number => (n.seenAt == null ? 1 : 0);

/** The notifications a local change touches, as they are now, and its effect on the counts. */
export function undoFor(state: InboxState, change: LocalChange): Undo {
  const before = state.notifications.filter((n) =>
    change.kind === "read-all" ? n.readAt === null : change.kind === "seen-all" ? n.seenAt == null : n.id === change.id,
  );
  const target = before[0];
  let delta = zero;
  if (change.kind === "read-all") {
    // Reading marks seen too; every unseen one is unread.
    delta = { total: 0, unread: -state.stats.unread, read: state.stats.unread, unseen: -state.stats.unseen };
  } else if (target !== undefined && change.kind === "read" && (target.readAt === null) === change.read) {
    const d = change.read ? 1 : -1;
    delta = { total: 0, unread: -d, read: d, unseen: change.read ? -unseen(target) : 0 };
  } else if (change.kind === "seen-all") {
    delta = { ...zero, unseen: -state.stats.unseen };
  } else if (target !== undefined && (change.kind === "remove" || change.kind === "archive")) {
    const unread = target.readAt === null ? 1 : 0;
    delta = { total: -1, unread: -unread, read: unread - 1, unseen: -unseen(target) };
  }
  return { before, delta, statsSeen: state.statsSeen };
}

function plus(a: Stats, b: Stats, sign: 1 | -1): Stats {
  return {
    total: Math.max(0, a.total + sign * b.total),
    unread: Math.max(0, a.unread + sign * b.unread),
    read: Math.max(0, a.read + sign * b.read),
    unseen: Math.max(0, a.unseen + sign * b.unseen),
  };
}

/** The state with `change` made: rows changed or dropped, counters moved by its delta. */
export function applyLocal(state: InboxState, change: LocalChange): InboxState {
  const { delta } = undoFor(state, change);
  const stats = plus(state.stats, delta, 1);
  if (change.kind === "remove" || change.kind === "archive") {
    return { ...state, stats, notifications: state.notifications.filter((n) => n.id !== change.id) };
  }
  const notifications = state.notifications.map((n) => {
    const seenAt = n.seenAt ?? change.at; // reading marks seen too
    if (change.kind === "seen-all") return n.seenAt == null ? { ...n, seenAt } : n;
    if (change.kind === "read-all") return n.readAt === null ? { ...n, readAt: change.at, seenAt } : n;
    if (n.id !== change.id) return n;
    return change.read ? { ...n, readAt: n.readAt ?? change.at, seenAt } : { ...n, readAt: null };
  });
  return { ...state, stats, notifications };
}

/** The state with a refused change undone (its counters only if no `stats` came since). */
export function applyRollback(state: InboxState, undo: Undo, error: InboxError): InboxState {
  let list = state.notifications;
  for (const n of undo.before) list = upsert(list, n);
  // A `stats` frame since the change is exact (the refused change is not in it).
  const stats = state.statsSeen === undo.statsSeen ? plus(state.stats, undo.delta, -1) : state.stats;
  return { ...state, notifications: list, stats, error };
}
