// The live stream: the browser's EventSource with `?token=` (it cannot send headers) and
// `?lastEventId=` (a new EventSource starts without one), renewed before the token expires.
//
// - While the browser retries by itself (a dropped connection, a relay that died) the
//   status is "reconnecting" and its Last-Event-ID header resumes the stream.
// - EventSource gives up for good on a non-200 answer (DESIGN §8): the stream asks
//   getToken() once and reopens within a second (spread: a relay shedding load refuses
//   many at once); a second refusal is diagnosed (401 means "signed-out") and retried
//   with a growing delay, each time with a fresh token.
// - Shortly before `exp` it asks getToken() and reopens with the last id seen: the
//   relay replays what came in between, so nothing is lost, and the status stays "live".
import type { Frame, InboxError, Status } from "./reducer.js";
import type { TokenKeeper } from "./token.js";

export const STREAM_PATH = "/api/v1/notifications/stream";
const EVENTS = ["connected", "stats", "recent", "notification", "notification.updated", "notification.deleted"];

export interface StreamHandlers {
  frame(frame: Frame): void;
  status(status: Status, error: InboxError | null): void;
}

export interface StreamOptions {
  readonly baseUrl: string;
  readonly tokens: TokenKeeper;
  /** The newest id any tab saw: where a (re)opened stream resumes. */
  readonly lastEventId: () => string | null;
  readonly handlers: StreamHandlers;
  readonly EventSource?: typeof EventSource;
  readonly fetch?: typeof fetch;
}

/** The first reopen after a refusal (with a renewed token) waits up to this long. */
export const FIRST_RETRY_SPREAD_MS = 1_000;

export function backoff(failures: number, random: () => number = Math.random): number {
  return Math.min(30_000, 1_000 * 2 ** Math.min(failures - 1, 5)) * (0.8 + 0.4 * random());
}

export class LiveStream {
  private source: EventSource | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private renewal: ReturnType<typeof setTimeout> | undefined;
  private failures = 0;
  private renewedAfterRefusal = false;
  private closed = false;
  private readonly ES: typeof EventSource;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: StreamOptions) {
    this.ES = options.EventSource ?? globalThis.EventSource;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Opens the stream now with the current token (or a fresh one when `renew`). */
  async open(renew = false): Promise<void> {
    clearTimeout(this.timer);
    let token: string;
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
      source.addEventListener(name, (e) => this.receive(source, name, e as MessageEvent<string>));
    }
    source.onerror = () => this.failed(source);
  }

  /** Stops for good: no reopen, no renewal. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.renewal);
    this.source?.close();
    this.source = null;
  }

  private receive(source: EventSource, name: string, event: MessageEvent<string>): void {
    if (source !== this.source) return;
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      return; // not ours to guess at; the relay writes JSON
    }
    const id = event.lastEventId === "" ? null : event.lastEventId;
    if (name === "connected") {
      this.failures = 0;
      this.renewedAfterRefusal = false;
      this.scheduleRenewal();
    }
    this.options.handlers.frame({ event: name, data, id } as Frame);
  }

  private scheduleRenewal(): void {
    clearTimeout(this.renewal);
    const wait = this.options.tokens.renewIn();
    if (wait === null) return;
    const longest = 2 ** 31 - 1; // setTimeout fires at once beyond this
    this.renewal = setTimeout(() => {
      if (wait > longest) this.scheduleRenewal();
      else void this.open(true);
    }, Math.min(wait, longest));
  }

  private failed(source: EventSource): void {
    if (source !== this.source || this.closed) return;
    if (source.readyState === this.ES.CONNECTING) {
      this.options.handlers.status("reconnecting", null);
      return;
    }
    source.close();
    clearTimeout(this.renewal);
    if (!this.renewedAfterRefusal) {
      // Within a second, not at once: a relay shedding load (503) refuses many browsers
      // together, and they must not come back as one wave.
      this.renewedAfterRefusal = true;
      this.timer = setTimeout(() => void this.open(true), FIRST_RETRY_SPREAD_MS * Math.random());
      return;
    }
    void this.diagnose();
  }

  private async diagnose(): Promise<void> {
    let status: Status = "reconnecting";
    let error: InboxError = { code: "stream_refused", message: "the stream was refused" };
    try {
      const token = await this.options.tokens.current();
      const answer = await this.fetch(`${this.options.baseUrl}${STREAM_PATH}/connections`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      if (answer.status === 401) {
        status = "signed-out";
        const why = this.options.tokens.expired() ? "the token expired" : "the token was refused";
        error = { code: "unauthorized", message: why, status: 401 };
      } else if (answer.ok) {
        error = {
          code: "stream_refused",
          message: "too many open streams, or the server is restarting",
        };
      }
    } catch {
      error = { code: "unreachable", message: "the server is unreachable" };
    }
    this.refused(error, status);
  }

  private refused(error: InboxError, status: Status = "reconnecting"): void {
    if (this.closed) return;
    this.failures += 1;
    this.options.handlers.status(status, error);
    this.timer = setTimeout(() => {
      void this.open(true);
    }, backoff(this.failures));
  }
}
