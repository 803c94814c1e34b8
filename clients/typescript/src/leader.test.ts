import { beforeEach, describe, expect, it } from "vitest";
import { createInbox, type Inbox } from "./inbox.js";
import { join } from "./leader.js";
import { FakeChannels, FakeEventSource, FakeLocks, recorded, settle, token } from "./testing/fakes.js";

const fresh = recorded("fresh");
const emptyPage = () => Response.json({ items: [], nextCursor: null });

function tabs(count: number, locks: FakeLocks | undefined, channels: FakeChannels): Inbox[] {
  return Array.from({ length: count }, () =>
    createInbox({
      streamUrl: "http://relay.test",
      apiUrl: "http://api.test",
      getToken: () => token("42", Date.now() / 1000 + 3600),
      EventSource: FakeEventSource as unknown as typeof EventSource,
      fetch: (async () => emptyPage()) as unknown as typeof fetch,
      locks,
      channel: channels.open,
    }),
  );
}
const ids = (inbox: Inbox): string[] => inbox.getState().notifications.map((n) => n.id);

beforeEach(() => {
  FakeEventSource.all = [];
});

describe("join", () => {
  it("elects one leader and the next one when it leaves", async () => {
    const locks = new FakeLocks();
    const channels = new FakeChannels();
    const led: number[] = [];
    const groups = [0, 1, 2].map((i) =>
      join<string>({ name: "g", lead: () => (led.push(i), () => {}), receive: () => {}, locks, channel: channels.open }),
    );
    await settle();
    expect(led).toEqual([0]);
    groups[0]!.close();
    await settle();
    expect(led).toEqual([0, 1]);
    groups[2]!.close(); // leaves before it was elected
    groups[1]!.close();
    await settle();
    expect(led).toEqual([0, 1]);
  });

  it("leads alone, sharing nothing, without Web Locks", () => {
    const channels = new FakeChannels();
    const group = join<string>({ name: "g", lead: () => () => {}, receive: () => {}, locks: undefined, channel: channels.open });
    expect(group.leading).toBe(true);
    expect(group.shared).toBe(false);
    group.post("x");
    expect(channels.posted).toBe(0);
  });
});

describe("one stream per browser", () => {
  it("six tabs hold one stream and all show what it receives", async () => {
    const channels = new FakeChannels();
    const inboxes = tabs(6, new FakeLocks(), channels);
    await settle();
    expect(FakeEventSource.open()).toHaveLength(1);
    for (const frame of fresh) FakeEventSource.all[0]!.send(frame);
    await settle(50);
    const leader = ids(inboxes[0]!);
    expect(leader).toHaveLength(2);
    for (const inbox of inboxes) {
      expect(ids(inbox)).toEqual(leader);
      expect(inbox.getState().stats).toEqual({ total: 2, unread: 0, read: 2, unseen: 0 });
      expect(inbox.getState().status).toBe("live");
    }
    for (const inbox of inboxes) inbox.close();
  });

  it("hands over to the next tab, which resumes from the newest id and doubles nothing", async () => {
    const inboxes = tabs(3, new FakeLocks(), new FakeChannels());
    await settle();
    const first = FakeEventSource.all[0]!;
    for (const frame of fresh.slice(0, 5)) first.send(frame);
    await settle(50);
    inboxes[0]!.close();
    await settle(50);
    expect(first.readyState).toBe(FakeEventSource.CLOSED);
    const open = FakeEventSource.open();
    expect(open).toHaveLength(1);
    expect(open[0]!.params.get("lastEventId")).toBe("2-9176533619c7");
    for (const frame of recorded("replay")) open[0]!.send(frame);
    await settle(50);
    for (const inbox of inboxes.slice(1)) {
      expect(new Set(ids(inbox)).size).toBe(ids(inbox).length);
      expect(inbox.getState().stats).toEqual({ total: 2, unread: 0, read: 2, unseen: 0 });
      expect(inbox.getState().status).toBe("live");
    }
    for (const inbox of inboxes) inbox.close();
  });

  it("a tab opened later takes the leader's state", async () => {
    const locks = new FakeLocks();
    const channels = new FakeChannels();
    const [leader] = tabs(1, locks, channels);
    await settle();
    for (const frame of fresh) FakeEventSource.all[0]!.send(frame);
    await settle(50);
    const [late] = tabs(1, locks, channels);
    await settle(50);
    expect(ids(late!)).toEqual(ids(leader!));
    expect(late!.getState().lastEventId).toBe("5-70b958f10a77");
    expect(late!.getState().status).toBe("live");
    expect(FakeEventSource.open()).toHaveLength(1);
    leader!.close();
    late!.close();
  });

  it("each tab connects by itself without Web Locks", async () => {
    const inboxes = tabs(3, undefined, new FakeChannels());
    await settle();
    expect(FakeEventSource.open()).toHaveLength(3);
    for (const inbox of inboxes) inbox.close();
    expect(FakeEventSource.open()).toHaveLength(0);
  });
});
