// The inbox's state and the one pure reducer every change goes through (DESIGN §5, §10).
// Every tab of a browser runs this reducer over the same frames (the leader's stream,
// shared over BroadcastChannel), so their lists and badges agree. Applying a frame twice
// changes nothing: notifications are upserted and removed by id, stats are replaced.
import type {
  DeletedNotification,
  Notification,
  RecentNotifications,
  Stats,
  StreamConnected,
} from "./contracts.js";
import { applyLocal, applyRollback, type LocalChange, type Undo } from "./optimistic.js";
import { appendOlder, upsert, withinLoaded } from "./order.js";

export type Status = "connecting" | "live" | "reconnecting" | "signed-out";

/** What went wrong last: a refused action (rolled back) or a connection problem. */
export interface InboxError {
  readonly code: string;
  readonly message: string;
  readonly status?: number;
}

/** One SSE frame of the stream, its data parsed (`id` only on events kept in the log). */
export type Frame =
  | { readonly event: "connected"; readonly data: StreamConnected }
  | { readonly event: "stats"; readonly data: Stats }
  | { readonly event: "recent"; readonly data: RecentNotifications }
  | {
      readonly event: "notification" | "notification.updated";
      readonly id: string | null;
      readonly data: Notification;
    }
  | {
      readonly event: "notification.deleted";
      readonly id: string | null;
      readonly data: DeletedNotification;
    };

export interface InboxState {
  /** Newest first: the loaded pages, kept exact by the stream. */
  readonly notifications: readonly Notification[];
  /** The user's counters as the stream last said, adjusted by actions in flight. */
  readonly stats: Stats;
  readonly status: Status;
  /** Events replayed on the last recovered reconnect (counted until its `stats`). */
  readonly replayed: number;
  readonly error: InboxError | null;
  /** True until the list is in after a connect (the REST page and the stream's snapshot). */
  readonly loading: boolean;
  /** Pass to `loadMore()` for the next page; null when every notification is loaded. */
  readonly nextCursor: string | null;
  /** The newest event id seen: where a new stream resumes. */
  readonly lastEventId: string | null;
  /** The last notification that arrived as news (created while the inbox was open). */
  readonly latest: Notification | null;
  /** Between a recovered `connected` and its `stats`: replayed events are arriving. */
  readonly replaying: boolean;
  /** Frames that arrived while a REST refetch was under way (re-applied on its page). */
  readonly held: readonly Frame[] | null;
  /** Waiting for the stream's snapshot (`stats`/`recent`) after an unrecovered connect. */
  readonly snapshotDue: boolean;
  /** Counts `stats` frames: a rollback after one leaves the server's exact counts alone. */
  readonly statsSeen: number;
}

export type Action =
  | { readonly type: "frame"; readonly frame: Frame }
  | { readonly type: "status"; readonly status: Status; readonly error?: InboxError | null }
  | {
      readonly type: "page";
      readonly items: readonly Notification[];
      readonly nextCursor: string | null;
      readonly replace: boolean;
    }
  | { readonly type: "page-failed"; readonly error: InboxError }
  | { readonly type: "local"; readonly change: LocalChange }
  | { readonly type: "rollback"; readonly undo: Undo; readonly error: InboxError }
  | { readonly type: "error"; readonly error: InboxError | null }
  | { readonly type: "adopt"; readonly state: InboxState };

export const initialState: InboxState = {
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
  statsSeen: 0,
};

function settle(state: InboxState): InboxState {
  const loading = state.held !== null || state.snapshotDue;
  return loading === state.loading ? state : { ...state, loading };
}

function applyFrame(state: InboxState, frame: Frame): InboxState {
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
        snapshotDue: !recovered,
      };
    }
    case "stats":
      return {
        ...state,
        stats: withUnseen(frame.data),
        statsSeen: state.statsSeen + 1,
        replaying: false,
        snapshotDue: false,
      };
    case "recent": {
      let list = state.notifications;
      for (const n of [...frame.data.notifications].reverse()) list = upsert(list, n);
      return { ...state, notifications: list, snapshotDue: false };
    }
    case "notification":
    case "notification.updated": {
      if (frame.data.archivedAt != null) {
        // Archived: listed only under status=archived (DESIGN §13).
        return { ...counted(state, frame.id), notifications: state.notifications.filter((m) => m.id !== frame.data.id) };
      }
      const known = state.notifications.some((m) => m.id === frame.data.id);
      const fresh = frame.event === "notification" && !known;
      const keep = known || fresh || withinLoaded(state.notifications, state.nextCursor === null, frame.data);
      return {
        ...counted(state, frame.id),
        notifications: keep ? upsert(state.notifications, frame.data) : state.notifications,
        latest: fresh ? frame.data : state.latest,
      };
    }
    case "notification.deleted":
      return {
        ...counted(state, frame.id),
        notifications: state.notifications.filter((m) => m.id !== frame.data.id),
      };
  }
}

function counted(state: InboxState, id: string | null): InboxState {
  return {
    ...state,
    lastEventId: id ?? state.lastEventId,
    replayed: state.replaying ? state.replayed + 1 : state.replayed,
  };
}

function applyPage(state: InboxState, action: Extract<Action, { type: "page" }>): InboxState {
  if (!action.replace) {
    let list = state.notifications;
    for (const n of action.items) list = appendOlder(list, n);
    return { ...state, notifications: list, nextCursor: action.nextCursor };
  }
  // The page is the truth as of its request; frames that arrived meanwhile are newer.
  let next: InboxState = {
    ...state,
    notifications: action.items,
    nextCursor: action.nextCursor,
    held: null,
  };
  for (const frame of state.held ?? []) {
    if (frame.event !== "connected" && frame.event !== "stats") next = applyFrame(next, frame);
  }
  return { ...next, latest: state.latest, lastEventId: state.lastEventId, replayed: state.replayed };
}

/** Stats from an API before DESIGN §13 have no `unseen`: then every unread one is unseen. */
export function withUnseen(stats: Stats): Stats {
  return stats.unseen === undefined ? { ...stats, unseen: stats.unread } : stats;
}

/** The one reducer: the next state, never mutating `state`. */
export function reduce(state: InboxState, action: Action): InboxState {
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
      // No API on this origin or it is down: `recent` is what the list has.
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
