// Token renewal (DESIGN §10): the caller's getToken() is asked again shortly before the
// token expires and once after a refusal; concurrent asks share one call.

export type GetToken = () => string | Promise<string>;

/** The claims this client reads from a JWT (it never verifies one: the servers do). */
export interface Claims {
  readonly sub?: string;
  readonly exp?: number;
}

/** The JWT's payload, or `{}` when it is not a readable JWT. */
export function claimsOf(token: string): Claims {
  const part = token.split(".")[1];
  if (part === undefined) return {};
  try {
    const bytes = Uint8Array.from(atob(part.replace(/-/g, "+").replace(/_/g, "/")), (c) =>
      c.charCodeAt(0),
    );
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes)); // UTF-8 (RFC 7519)
    const usable = typeof claims === "object" && claims !== null && !Array.isArray(claims);
    return usable ? (claims as Claims) : {};
  } catch {
    return {};
  }
}

/** Milliseconds before `exp` to renew: a fifth of the token's life, between 1 s and 60 s. */
export function renewalLead(lifetimeMs: number): number {
  return Math.min(60_000, Math.max(1_000, lifetimeMs / 5));
}

export class TokenKeeper {
  private token: string | null = null;
  private asking: Promise<string> | null = null;

  constructor(
    private readonly getToken: GetToken,
    private readonly now: () => number = Date.now,
  ) {}

  /** The current token, asking getToken() for the first one. */
  current(): Promise<string> {
    return this.token !== null ? Promise.resolve(this.token) : this.renew();
  }

  /** A fresh token from getToken(); callers that ask meanwhile share the same answer. */
  renew(): Promise<string> {
    if (this.asking === null) {
      this.asking = Promise.resolve()
        .then(() => this.getToken())
        .then(
          (token) => {
            this.token = token;
            this.asking = null;
            return token;
          },
          (error: unknown) => {
            this.asking = null;
            throw error;
          },
        );
    }
    return this.asking;
  }

  /** Milliseconds until the current token should be renewed; null when it has no `exp`. */
  renewIn(): number | null {
    const exp = this.token === null ? undefined : claimsOf(this.token).exp;
    if (exp === undefined) return null;
    const left = exp * 1000 - this.now();
    return Math.max(0, left - renewalLead(left));
  }

  /** True when the current token's `exp` has passed. */
  expired(): boolean {
    const exp = this.token === null ? undefined : claimsOf(this.token).exp;
    return exp !== undefined && exp * 1000 <= this.now();
  }
}
