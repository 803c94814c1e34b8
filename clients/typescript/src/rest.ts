// The notifications API (DESIGN §4) with `Authorization: Bearer`; a 401 renews the token
// once and retries. Errors become InboxError with the API's own code and message.
import type { Notification, Preferences } from "./contracts.js";
import type { TokenKeeper } from "./token.js";

export const API_PATH = "/api/v1/notifications";
export const PAGE_SIZE = 50;

export interface Page {
  readonly items: readonly Notification[];
  readonly nextCursor: string | null;
}

export class RestError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "RestError";
  }
}

async function errorOf(answer: Response): Promise<RestError> {
  let body: unknown = null;
  try {
    body = await answer.json();
  } catch {
    // not JSON: the status says enough
  }
  const detail = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code = typeof detail?.code === "string" ? detail.code : `http_${answer.status}`;
  const message = typeof detail?.message === "string" ? detail.message : `HTTP ${answer.status}`;
  return new RestError(code, message, answer.status);
}

export class Rest {
  private readonly fetch: typeof fetch;

  constructor(
    private readonly baseUrl: string,
    private readonly tokens: TokenKeeper,
    fetchImpl?: typeof fetch,
  ) {
    this.fetch = fetchImpl ?? globalThis.fetch.bind(globalThis);
  }

  /** One page of the caller's notifications, newest first. */
  page(cursor: string | null = null): Promise<Page> {
    const query = `?status=all&limit=${PAGE_SIZE}${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`;
    return this.call<Page>("GET", query);
  }

  markRead(id: string, read: boolean): Promise<Notification> {
    return this.call<Notification>("PATCH", `/${encodeURIComponent(id)}`, { read });
  }

  remove(id: string): Promise<unknown> {
    return this.call("DELETE", `/${encodeURIComponent(id)}`);
  }

  markAllRead(): Promise<unknown> {
    return this.call("POST", "/read", {});
  }

  markSeen(): Promise<unknown> {
    return this.call("POST", "/seen", {});
  }

  archive(id: string): Promise<unknown> {
    return this.call("POST", "/archive", { ids: [id] });
  }

  preferences(): Promise<Preferences> {
    return this.call<Preferences>("GET", "/preferences");
  }

  setPreferences(preferences: Preferences): Promise<Preferences> {
    return this.call<Preferences>("PUT", "/preferences", preferences);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let answer = await this.send(method, path, await this.tokens.current(), body);
    if (answer.status === 401) {
      answer = await this.send(method, path, await this.tokens.renew(), body);
    }
    if (!answer.ok) throw await errorOf(answer);
    return (answer.status === 204 ? {} : await answer.json()) as T;
  }

  private async send(method: string, path: string, token: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { Authorization: `Bearer ${token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      return await this.fetch(`${this.baseUrl}${API_PATH}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch {
      throw new RestError("unreachable", "the API is unreachable");
    }
  }
}
