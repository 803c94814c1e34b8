// Test doubles for what a browser provides: EventSource, Web Locks, BroadcastChannel.
// They keep the browser's observable behaviour that the client relies on: a lock is
// granted in request order and released when its callback settles; a channel delivers
// to the group's other members, asynchronously, a structured clone, in posting order.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ChannelLike, LockManagerLike } from "../leader.js";
import type { Frame } from "../reducer.js";

/** The frames of a recorded SSE session (src/testing/recorded/*.sse, taken from the relay). */
export function recorded(name: string): Frame[] {
  const text = readFileSync(join(import.meta.dirname, "recorded", `${name}.sse`), "utf8");
  const frames: Frame[] = [];
  for (const block of text.split("\n\n")) {
    let event = "message";
    let id: string | null = null;
    const data: string[] = [];
    for (const line of block.split("\n")) {
      const [field, ...rest] = line.split(": ");
      const value = rest.join(": ");
      if (field === "event") event = value;
      else if (field === "id") id = value;
      else if (field === "data") data.push(value);
    }
    if (data.length > 0) frames.push({ event, id, data: JSON.parse(data.join("\n")) } as Frame);
  }
  return frames;
}

export class FakeEventSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  static all: FakeEventSource[] = [];
  readyState = FakeEventSource.CONNECTING;
  onerror: (() => void) | null = null;
  private readonly listeners = new Map<string, ((e: MessageEvent<string>) => void)[]>();

  constructor(readonly url: string) {
    FakeEventSource.all.push(this);
  }

  static open(): FakeEventSource[] {
    return FakeEventSource.all.filter((s) => s.readyState !== FakeEventSource.CLOSED);
  }

  get params(): URLSearchParams {
    return new URL(this.url, "http://relay.test").searchParams;
  }

  addEventListener(name: string, listener: (e: MessageEvent<string>) => void): void {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), listener]);
  }

  /** The relay sends a frame (the browser dispatches named events with data only). */
  send(frame: Frame): void {
    this.readyState = FakeEventSource.OPEN;
    const id = "id" in frame && frame.id !== null ? frame.id : "";
    const event = { data: JSON.stringify(frame.data), lastEventId: id } as MessageEvent<string>;
    for (const listener of this.listeners.get(frame.event) ?? []) listener(event);
  }

  /** The connection drops and the browser retries by itself (CONNECTING), or gives up. */
  fail(givesUp: boolean): void {
    this.readyState = givesUp ? FakeEventSource.CLOSED : FakeEventSource.CONNECTING;
    this.onerror?.();
  }

  close(): void {
    this.readyState = FakeEventSource.CLOSED;
  }
}

export class FakeLocks implements LockManagerLike {
  private readonly queues = new Map<string, (() => void)[]>();
  private readonly held = new Set<string>();

  request(name: string, options: { signal?: AbortSignal }, callback: () => Promise<void>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const run = (): void => {
        this.held.add(name);
        void callback().finally(() => {
          this.held.delete(name);
          resolve(undefined);
          this.queues.get(name)?.shift()?.();
        });
      };
      if (!this.held.has(name)) {
        run();
        return;
      }
      const queue = this.queues.get(name) ?? [];
      queue.push(run);
      this.queues.set(name, queue);
      options.signal?.addEventListener("abort", () => {
        const at = queue.indexOf(run);
        if (at >= 0) queue.splice(at, 1);
        reject(new DOMException("aborted", "AbortError"));
      });
    });
  }
}

export class FakeChannels {
  private readonly members = new Map<string, Set<FakeChannel<unknown>>>();
  posted = 0;

  open = <M>(name: string): ChannelLike<M> => {
    const channel = new FakeChannel<M>(this, name);
    const group = this.members.get(name) ?? new Set();
    group.add(channel as FakeChannel<unknown>);
    this.members.set(name, group);
    return channel;
  };

  deliver(from: FakeChannel<unknown>, message: unknown): void {
    this.posted += 1;
    for (const member of this.members.get(from.name) ?? []) {
      if (member !== from) queueMicrotask(() => member.receive(structuredClone(message)));
    }
  }

  leave(channel: FakeChannel<unknown>): void {
    this.members.get(channel.name)?.delete(channel);
  }
}

class FakeChannel<M> implements ChannelLike<M> {
  private readonly listeners: ((event: MessageEvent<M>) => void)[] = [];
  private closed = false;

  constructor(
    private readonly hub: FakeChannels,
    readonly name: string,
  ) {}

  postMessage(message: M): void {
    if (this.closed) throw new DOMException("closed", "InvalidStateError");
    this.hub.deliver(this as FakeChannel<unknown>, message);
  }

  addEventListener(_type: "message", listener: (event: MessageEvent<M>) => void): void {
    this.listeners.push(listener);
  }

  receive(message: unknown): void {
    if (this.closed) return;
    for (const listener of this.listeners) listener({ data: message } as MessageEvent<M>);
  }

  close(): void {
    this.closed = true;
    this.hub.leave(this as FakeChannel<unknown>);
  }
}

/** A JWT-shaped token (unsigned: the client never verifies) for `sub`, expiring at `exp`. */
export function token(sub: string, exp: number, n = 0): string {
  const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "HS256" })}.${part({ sub, exp, n })}.signature`;
}

/** Waits until queued promise callbacks and channel deliveries have run. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i += 1) await Promise.resolve();
}
