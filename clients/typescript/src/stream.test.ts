import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { InboxError, Status } from "./reducer.js";
import { backoff, FIRST_RETRY_SPREAD_MS, LiveStream } from "./stream.js";
import { FakeEventSource, settle, token } from "./testing/fakes.js";
import { TokenKeeper } from "./token.js";

function stream(getToken: () => string | Promise<string>, answer = 200) {
  const statuses: [Status, InboxError | null][] = [];
  const live = new LiveStream({
    baseUrl: "http://relay.test",
    tokens: new TokenKeeper(getToken),
    lastEventId: () => "7-abcdefabcdef",
    handlers: { frame: () => {}, status: (s, e) => statuses.push([s, e]) },
    EventSource: FakeEventSource as unknown as typeof EventSource,
    fetch: (async () => new Response("{}", { status: answer })) as unknown as typeof fetch,
  });
  return { live, statuses };
}

beforeEach(() => {
  FakeEventSource.all = [];
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("backoff", () => {
  it("doubles from 1 s up to 30 s, with jitter of +-20 %", () => {
    expect(backoff(1, () => 0.5)).toBe(1_000);
    expect(backoff(3, () => 0.5)).toBe(4_000);
    expect(backoff(20, () => 0.5)).toBe(30_000);
    expect(backoff(1, () => 0)).toBeCloseTo(800);
    expect(backoff(1, () => 1)).toBeCloseTo(1_200);
  });
});

describe("LiveStream", () => {
  it("opens with ?token= and ?lastEventId=, URL-encoded", async () => {
    const { live } = stream(() => "a+b/c=");
    await live.open();
    expect(FakeEventSource.all[0]!.url).toBe(
      "http://relay.test/api/v1/notifications/stream?token=a%2Bb%2Fc%3D&lastEventId=7-abcdefabcdef",
    );
    live.close();
  });

  it("a getToken() that fails is retried with backoff, reconnecting, not signed out", async () => {
    const getToken = vi.fn().mockRejectedValueOnce(new Error("offline")).mockReturnValue("t");
    const { live, statuses } = stream(getToken);
    await live.open();
    expect(statuses).toEqual([["reconnecting", expect.objectContaining({ code: "token_unavailable" })]]);
    expect(FakeEventSource.all).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1_200);
    expect(FakeEventSource.all).toHaveLength(1);
    live.close();
  });

  it("reopens after a first refusal within a second, not at once", async () => {
    const random = vi.spyOn(Math, "random").mockReturnValue(0.5);
    const { live } = stream(() => token("42", Date.now() / 1000 + 60), 200);
    await live.open();
    FakeEventSource.all[0]!.fail(true);
    await settle();
    expect(FakeEventSource.all).toHaveLength(1); // a shed browser does not come straight back
    await vi.advanceTimersByTimeAsync(FIRST_RETRY_SPREAD_MS / 2);
    expect(FakeEventSource.open()).toHaveLength(1);
    random.mockRestore();
    live.close();
  });

  it("a refusal that is not a 401 keeps retrying as reconnecting", async () => {
    const { live, statuses } = stream(() => token("42", Date.now() / 1000 + 60), 200);
    await live.open();
    FakeEventSource.all[0]!.fail(true);
    await vi.advanceTimersByTimeAsync(FIRST_RETRY_SPREAD_MS);
    await settle();
    FakeEventSource.all[1]!.fail(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(statuses.at(-1)).toEqual(["reconnecting", expect.objectContaining({ code: "stream_refused" })]);
    await vi.advanceTimersByTimeAsync(1_200);
    expect(FakeEventSource.open()).toHaveLength(1); // and opened again
    live.close();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeEventSource.open()).toHaveLength(0); // closed for good
  });
});
