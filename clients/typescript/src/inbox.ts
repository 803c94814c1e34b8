// createInbox (DESIGN §10): the store every view subscribes to. The tab that leads its
// browser's group holds the one stream and shares its frames; every tab runs the same
// reducer over them. Actions go to the API from the tab that made them, optimistically.
import type { Preferences } from "./contracts.js";
import { join, type ChannelLike, type Group, type LockManagerLike } from "./leader.js";
import { undoFor, type LocalChange } from "./optimistic.js";
import {
  initialState,
  reduce,
  type Action,
  type Frame,
  type InboxError,
  type InboxState,
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
  /** Marks every unseen notification seen (the badge, `stats.unseen`, goes to 0). */
  markSeen(): Promise<boolean>;
  /** Archives one: it leaves the list and every count (DESIGN §13). */
  archive(id: string): Promise<boolean>;
  /** The user's delivery preferences; `setPreferences` replaces them (mute a type). */
  preferences(): Promise<Preferences>;
  setPreferences(preferences: Preferences): Promise<Preferences>;
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

/** The inbox of `options`' user: starts connecting (or joins its browser's tabs) at once. */
export function createInbox(options: InboxOptions): Inbox {
  const inbox = new TabInbox(options);
  void inbox.start();
  return inbox;
}

class TabInbox implements Inbox {
  private readonly streamUrl: string;
  private readonly tokens: TokenKeeper;
  private readonly rest: Rest;
  private readonly tab = Math.random().toString(36).slice(2);
  private readonly listeners = new Set<(state: InboxState) => void>();
  private state = initialState;
  private group: Group<Message> | null = null;
  private stream: LiveStream | null = null;
  private closed = false;

  constructor(private readonly options: InboxOptions) {
    const apiUrl = options.apiUrl ?? "";
    this.streamUrl = options.streamUrl ?? apiUrl;
    this.tokens = new TokenKeeper(options.getToken);
    this.rest = new Rest(apiUrl, this.tokens, options.fetch);
  }

  subscribe = (listener: (state: InboxState) => void): (() => void) => {
    this.listeners.add(listener);
    listener(this.state);
    return () => {
      this.listeners.delete(listener);
    };
  };

  getState = (): InboxState => this.state;

  markRead = (id: string, read = true): Promise<boolean> => {
    const change = { kind: "read", id, read, at: new Date().toISOString() } as const;
    return this.act(change, () => this.rest.markRead(id, read));
  };

  remove = (id: string): Promise<boolean> => {
    return this.act({ kind: "remove", id }, () => this.rest.remove(id));
  };

  markAllRead = (): Promise<boolean> => {
    const change = { kind: "read-all", at: new Date().toISOString() } as const;
    return this.act(change, () => this.rest.markAllRead());
  };

  markSeen = (): Promise<boolean> => {
    if (this.state.stats.unseen === 0) return Promise.resolve(true);
    const change = { kind: "seen-all", at: new Date().toISOString() } as const;
    return this.act(change, () => this.rest.markSeen());
  };

  archive = (id: string): Promise<boolean> => {
    return this.act({ kind: "archive", id }, () => this.rest.archive(id));
  };

  preferences = (): Promise<Preferences> => this.rest.preferences();

  setPreferences = (preferences: Preferences): Promise<Preferences> =>
    this.rest.setPreferences(preferences);

  loadMore = async (): Promise<boolean> => {
    if (this.state.nextCursor === null) return false;
    try {
      const page = await this.rest.page(this.state.nextCursor);
      this.dispatch({ type: "page", items: page.items, nextCursor: page.nextCursor, replace: false });
      return true;
    } catch (error) {
      this.dispatch({ type: "error", error: asError(error) });
      return false;
    }
  };

  reconnect = (): void => {
    if (this.group === null) void this.start();
    else if (this.group.leading) void this.stream?.open(true);
    else this.share({ kind: "reconnect" });
  };

  close = (): void => {
    this.closed = true;
    this.group?.close();
    this.listeners.clear();
  };

  /** Joins the tabs of this origin and user (named after the token's `sub`). */
  async start(): Promise<void> {
    let token: string;
    try {
      token = await this.tokens.current();
    } catch (error) {
      this.dispatch({ type: "status", status: "signed-out", error: asError(error) });
      return;
    }
    if (this.closed || this.group !== null) return;
    const name = `qahub-notifications ${absolute(this.streamUrl)} ${claimsOf(token).sub ?? ""}`;
    const { locks, channel } = this.options;
    this.group = join<Message>({
      name,
      lead: () => this.lead(),
      receive: (message) => this.receive(message),
      ...("locks" in this.options ? { locks } : {}),
      ...("channel" in this.options ? { channel } : {}),
    });
    if (!this.group.leading) this.share({ kind: "hello", from: this.tab });
  }

  private dispatch(action: Action): void {
    const next = reduce(this.state, action);
    if (next === this.state) return;
    this.state = next;
    for (const listener of [...this.listeners]) listener(next);
  }

  private share(message: Message): void {
    this.group?.post(message);
  }

  /** This tab now holds the browser's stream: every frame and status goes to the others too. */
  private lead(): () => void {
    if (this.state.status === "live") this.dispatch({ type: "status", status: "reconnecting" });
    const { EventSource, fetch } = this.options;
    const stream = new LiveStream({
      baseUrl: this.streamUrl,
      tokens: this.tokens,
      lastEventId: () => this.state.lastEventId,
      ...(EventSource ? { EventSource } : {}),
      ...(fetch ? { fetch } : {}),
      handlers: {
        frame: (frame) => {
          this.dispatch({ type: "frame", frame });
          this.share({ kind: "frame", frame });
          if (frame.event === "connected" && !frame.data.recovered) void this.refetch();
        },
        status: (status, error) => {
          this.dispatch({ type: "status", status, error });
          this.share({ kind: "status", status, error });
        },
      },
    });
    this.stream = stream;
    void stream.open();
    return () => {
      stream.close();
      this.stream = null;
    };
  }

  /** After `recovered: false` the list may be stale: the first page again, for every tab. */
  private async refetch(): Promise<void> {
    let action: Action;
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

  private receive(message: Message): void {
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
  private async act(change: LocalChange, call: () => Promise<unknown>): Promise<boolean> {
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
}

function asError(error: unknown): InboxError {
  if (error instanceof RestError) {
    return { code: error.code, message: error.message, ...(error.status ? { status: error.status } : {}) };
  }
  return { code: "error", message: error instanceof Error ? error.message : String(error) };
}
