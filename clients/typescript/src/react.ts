// useInbox (DESIGN §10): the inbox as React state, on useSyncExternalStore. One inbox per
// mounted component, closed on unmount; getToken may change between renders (the latest
// one is called), while a change of apiUrl or streamUrl starts a new inbox.
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from "react";
import { createInbox, type Inbox, type InboxOptions } from "./inbox.js";
import { initialState, type InboxError, type InboxState, type Status } from "./reducer.js";
import type { Notification, Stats } from "./contracts.js";

export interface UseInbox {
  readonly notifications: readonly Notification[];
  readonly stats: Stats;
  /** True while the stream is live. */
  readonly connected: boolean;
  readonly status: Status;
  readonly error: InboxError | null;
  readonly loading: boolean;
  readonly hasMore: boolean;
  markRead(id: string, read?: boolean): Promise<boolean>;
  remove(id: string): Promise<boolean>;
  markAllRead(): Promise<boolean>;
  loadMore(): Promise<boolean>;
}

const nothing = (): (() => void) => () => {};
const initial = (): InboxState => initialState;

export function useInbox(options: InboxOptions): UseInbox {
  const latest = useRef(options);
  latest.current = options;
  const [inbox, setInbox] = useState<Inbox | null>(null);
  const { apiUrl, streamUrl } = options;

  useEffect(() => {
    const created = createInbox({ ...latest.current, getToken: () => latest.current.getToken() });
    setInbox(created);
    return () => {
      created.close();
      setInbox(null);
    };
  }, [apiUrl, streamUrl]);

  const state = useSyncExternalStore(
    inbox === null ? nothing : inbox.subscribe,
    inbox === null ? initial : inbox.getState,
    initial,
  );
  const markRead = useCallback(
    (id: string, read = true) => inbox?.markRead(id, read) ?? Promise.resolve(false),
    [inbox],
  );
  const remove = useCallback((id: string) => inbox?.remove(id) ?? Promise.resolve(false), [inbox]);
  const markAllRead = useCallback(() => inbox?.markAllRead() ?? Promise.resolve(false), [inbox]);
  const loadMore = useCallback(() => inbox?.loadMore() ?? Promise.resolve(false), [inbox]);
  return {
    notifications: state.notifications,
    stats: state.stats,
    connected: state.status === "live",
    status: state.status,
    error: state.error,
    loading: state.loading,
    hasMore: state.nextCursor !== null,
    markRead,
    remove,
    markAllRead,
    loadMore,
  };
}
