// One stream per browser (DESIGN §10): the tabs of one origin and user elect a leader with
// a Web Lock; the leader holds the stream and shares what it receives over a
// BroadcastChannel. The browser releases a lock the moment its tab closes or crashes, so
// the next tab waiting for it leads within the time a lock hand-over takes. Without Web
// Locks or BroadcastChannel every tab leads by itself (its own stream).

export interface LockManagerLike {
  request(
    name: string,
    options: { signal?: AbortSignal },
    callback: () => Promise<void>,
  ): Promise<unknown>;
}

export interface ChannelLike<M> {
  postMessage(message: M): void;
  addEventListener(type: "message", listener: (event: MessageEvent<M>) => void): void;
  close(): void;
}

export interface ElectionOptions<M> {
  /** The lock's and the channel's name: one per origin and user. */
  readonly name: string;
  /** Called once this tab leads; returns what to run when it stops leading. */
  readonly lead: () => () => void;
  /** Every message another tab of the group posts. */
  readonly receive: (message: M) => void;
  readonly locks?: LockManagerLike | undefined;
  readonly channel?: ((name: string) => ChannelLike<M>) | undefined;
}

export interface Group<M> {
  /** True once this tab holds the lock (or leads alone). */
  readonly leading: boolean;
  /** False when the tabs cannot share (no Web Locks or no BroadcastChannel). */
  readonly shared: boolean;
  /** Sends to every other tab of the group (nothing when not shared). */
  post(message: M): void;
  /** Leaves the group: releases the lock, so another tab leads. */
  close(): void;
}

function defaultLocks(): LockManagerLike | undefined {
  const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
  return nav?.locks;
}

function defaultChannel<M>(): ((name: string) => ChannelLike<M>) | undefined {
  const BC = (globalThis as { BroadcastChannel?: new (name: string) => ChannelLike<M> })
    .BroadcastChannel;
  return BC === undefined ? undefined : (name) => new BC(name);
}

/** Joins the group `name`: leads now when alone or unable to share, else when elected. */
export function join<M>(options: ElectionOptions<M>): Group<M> {
  const locks = "locks" in options ? options.locks : defaultLocks();
  const open = "channel" in options ? options.channel : defaultChannel<M>();
  let leading = false;
  let closed = false;
  let resign: (() => void) | null = null;

  if (locks === undefined || open === undefined) {
    leading = true;
    resign = options.lead();
    return {
      get leading() {
        return leading;
      },
      shared: false,
      post() {},
      close() {
        if (closed) return;
        closed = true;
        resign?.();
      },
    };
  }

  const channel = open(options.name);
  channel.addEventListener("message", (event) => {
    if (!closed) options.receive(event.data);
  });
  const abort = new AbortController();
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  locks
    .request(options.name, { signal: abort.signal }, async () => {
      if (closed) return;
      leading = true;
      resign = options.lead();
      await released; // the lock is held until this tab leaves (or is gone)
    })
    .catch(() => {}); // aborted because the tab left before it was elected

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
    },
  };
}
