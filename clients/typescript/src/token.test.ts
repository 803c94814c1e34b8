import { describe, expect, it, vi } from "vitest";
import { claimsOf, renewalLead, TokenKeeper } from "./token.js";
import { token } from "./testing/fakes.js";

describe("claimsOf", () => {
  it("reads sub and exp from a JWT's payload (base64url)", () => {
    expect(claimsOf(token("ü-42", 1_800_000_000))).toMatchObject({ sub: "ü-42", exp: 1_800_000_000 });
  });

  it("answers {} for what is not a JWT", () => {
    for (const junk of ["", "abc", "a.!!!.c", `a.${btoa("[1]")}.c`, `a.${btoa("null")}.c`]) {
      expect(claimsOf(junk)).toEqual({});
    }
  });
});

describe("TokenKeeper", () => {
  it("renews a fifth of the token's life ahead, between 1 s and 60 s", () => {
    expect(renewalLead(12_000)).toBe(2_400);
    expect(renewalLead(2_000)).toBe(1_000);
    expect(renewalLead(3_600_000)).toBe(60_000);
  });

  it("asks getToken() once for concurrent callers and again only on renew()", async () => {
    const now = 1_000_000_000_000;
    let n = 0;
    const getToken = vi.fn(async () => token("42", now / 1000 + 12, n++));
    const keeper = new TokenKeeper(getToken, () => now);
    const [a, b] = await Promise.all([keeper.current(), keeper.current()]);
    expect(a).toBe(b);
    expect(getToken).toHaveBeenCalledTimes(1);
    expect(keeper.renewIn()).toBe(9_600);
    expect(keeper.expired()).toBe(false);
    expect(await keeper.renew()).not.toBe(a);
    expect(getToken).toHaveBeenCalledTimes(2);
  });

  it("lets a failed getToken() be asked again", async () => {
    const getToken = vi.fn().mockRejectedValueOnce(new Error("offline")).mockResolvedValue("t");
    const keeper = new TokenKeeper(getToken);
    await expect(keeper.current()).rejects.toThrow("offline");
    expect(await keeper.current()).toBe("t");
    expect(keeper.renewIn()).toBeNull(); // no exp: never renewed ahead
  });
});
