// createInbox (DESIGN §10): the store every view subscribes to. The tab that leads its
// browser's group holds the one stream and shares its frames; every tab runs the same
// reducer over them. Actions go to the API from the tab that made them, optimistically.
import { join, type ChannelLike, type Group, type LockManagerLike } from "./leader.js";
import {
  initialState,
  reduce,
  undoFor,
  type Action,
  type Frame,
  type InboxError,
  type InboxState,
  type LocalChange,
  type Status,
} from "./reducer.js";
import { Rest, RestError } from "./rest.js";
import { LiveStream } from "./stream.js";
import { claimsOf, TokenKeeper, type GetToken } from "./token.js";

export interface InboxOptions {
  /** Base URL of the notifications API ("" = this origin). */
  readonly apiUrl?: string;
  /** Base URL of the stream relay; defaults to `apiUrl`. */
  readonly streamUrl?: string;
  /** The user's JWT; asked again shortly before it expires and after a refusal. */
  readonly getToken: GetToken;
  /** For tests and other environments: what the browser otherwise provides. */
  readonly EventSource?: typeof EventSource;
  readonly fetch?: typeof fetch;
  readonly locks?: LockManagerLike | undefined;
  readonly channel?: ((name: string) => ChannelLike<Message>) | undefined;
}

export interface Inbox {
  /** Calls `listener` with the state now and after every change; returns the unsubscribe. */
  subscribe(listener: (state: InboxState) => void): () => void;
  getState(): InboxState;
  /** Each action updates the state at once and resolves true, or rolls back, sets
   * `state.error` and resolves false when the API refuses. */
  markRead(id: string, read?: boolean): Promise<boolean>;
  remove(id: string): Promise<boolean>;
  markAllRead(): Promise<boolean>;
  /** Appends the next page of older notifications (when `state.nextCursor` is set). */
  loadMore(): Promise<boolean>;
  /** Reconnects now with a fresh getToken() (after the user signed in again). */
  reconnect(): void;
  close(): void;
}

/** What the tabs of one group tell each other. */
export type Message =
  | { readonly kind: "frame"; readonly frame: Frame }
  | { readonly kind: "status"; readonly status: Status; readonly error: InboxError | null }
  | { readonly kind: "page"; readonly action: Action }
  | { readonly kind: "hello"; readonly from: string }
  | { readonly kind: "state"; readonly to: string; readonly state: InboxState }
  | { readonly kind: "reconnect" };

function absolute(url: string): string {
  const here = (globalThis as { location?: { href: string } }).location?.href;
  return here === undefined ? url : new URL(url || "/", here).href.replace(/\/$/, "");
}

export function createInbox(options: InboxOptions): Inbox {
  const apiUrl = options.apiUrl ?? "";
  const streamUrl = options.streamUrl ?? apiUrl;
  const tokens = new TokenKeeper(options.getToken);
  const rest = new Rest(apiUrl, tokens, options.fetch);
  const tab = Math.random().toString(36).slice(2);
  const listeners = new Set<(state: InboxState) => void>();
  let state = initialState;
  let group: Group<Message> | null = null;
  let stream: LiveStream | null = null;
  let closed = false;

  const dispatch = (action: Action): void => {
    const next = reduce(state, action);
    if (next === state) return;
    state = next;
    for (const listener of [...listeners]) listener(state);
  };
  const share = (message: Message): void => group?.post(message);

  const refetch = async (): Promise<void> => {
    let action: Action;
    try {
      const page = await rest.page();
      action = { type: "page", items: page.items, nextCursor: page.nextCursor, replace: true };
    } catch (error) {
      action = { type: "page-failed", error: asError(error) };
    }
    if (closed) return;
    dispatch(action);
    share({ kind: "page", action });
  };

  const lead = (): (() => void) => {
    if (state.status === "live") dispatch({ type: "status", status: "reconnecting" });
    stream = new LiveStream({
      baseUrl: streamUrl,
      tokens,
      lastEventId: () => state.lastEventId,
      ...(options.EventSource ? { EventSource: options.EventSource } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
      handlers: {
        frame(frame) {
          dispatch({ type: "frame", frame });
          share({ kind: "frame", frame });
          if (frame.event === "connected" && !frame.data.recovered) void refetch();
        },
        status(status, error) {
          dispatch({ type: "status", status, error });
          share({ kind: "status", status, error });
        },
      },
    });
    void stream.open();
    return () => {
      stream?.close();
      stream = null;
    };
  };

  const receive = (message: Message): void => {
    switch (message.kind) {
      case "frame":
        return dispatch({ type: "frame", frame: message.frame });
      case "status":
        return dispatch({ type: "status", status: message.status, error: message.error });
      case "page":
        return dispatch(message.action);
      case "hello":
        if (group?.leading) share({ kind: "state", to: message.from, state });
        return;
      case "state":
        if (message.to === tab && !group?.leading) dispatch({ type: "adopt", state: message.state });
        return;
      case "reconnect":
        if (group?.leading) void stream?.open(true);
    }
  };

  const start = async (): Promise<void> => {
    let token: string;
    try {
      token = await tokens.current();
    } catch (error) {
      dispatch({ type: "status", status: "signed-out", error: asError(error) });
      return;
    }
    if (closed || group !== null) return;
    const name = `qahub-notifications ${absolute(streamUrl)} ${claimsOf(token).sub ?? ""}`;
    group = join<Message>({
      name,
      lead,
      receive,
      ...("locks" in options ? { locks: options.locks } : {}),
      ...("channel" in options ? { channel: options.channel } : {}),
    });
    if (!group.leading) share({ kind: "hello", from: tab });
  };

  const act = async (change: LocalChange, call: () => Promise<unknown>): Promise<boolean> => {
    const undo = undoFor(state, change);
    dispatch({ type: "local", change });
    try {
      await call();
      return true;
    } catch (error) {
      dispatch({ type: "rollback", undo, error: asError(error) });
      return false;
    }
  };

  void start();
  return {
    subscribe(listener) {
      listeners.add(listener);
      listener(state);
      return () => listeners.delete(listener);
    },
    getState: () => state,
    markRead: (id, read = true) =>
      act({ kind: "read", id, read, at: new Date().toISOString() }, () => rest.markRead(id, read)),
    remove: (id) => act({ kind: "remove", id }, () => rest.remove(id)),
    markAllRead: () => act({ kind: "read-all", at: new Date().toISOString() }, () => rest.markAllRead()),
    async loadMore() {
      if (state.nextCursor === null) return false;
      try {
        const page = await rest.page(state.nextCursor);
        dispatch({ type: "page", items: page.items, nextCursor: page.nextCursor, replace: false });
        return true;
      } catch (error) {
        dispatch({ type: "error", error: asError(error) });
        return false;
      }
    },
    reconnect() {
      if (group === null) void start();
      else if (group.leading) void stream?.open(true);
      else share({ kind: "reconnect" });
    },
    close() {
      closed = true;
      group?.close();
      listeners.clear();
    },
  };
}

function asError(error: unknown): InboxError {
  if (error instanceof RestError) {
    return { code: error.code, message: error.message, ...(error.status ? { status: error.status } : {}) };
  }
  return { code: "error", message: error instanceof Error ? error.message : String(error) };
}
