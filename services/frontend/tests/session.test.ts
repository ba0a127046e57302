import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { readSession, refreshSession, writeSession, type Session } from "@/lib/auth/session";

// A browser's shared pieces, in memory: localStorage and a Web Locks implementation that serialises.
function installBrowser() {
  const store = new Map<string, string>();
  let queue: Promise<unknown> = Promise.resolve();
  vi.stubGlobal("window", {
    localStorage: { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => store.set(k, v),
      removeItem: (k: string) => store.delete(k) },
    addEventListener: () => undefined, removeEventListener: () => undefined,
  });
  vi.stubGlobal("navigator", { locks: { request: (_: string, work: () => Promise<unknown>) => (queue = queue.then(work, work)) } });
}

function jwt(claims: object): string {
  return `h.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.s`;
}

const pair = (n: number) => ({ access_token: jwt({ sub: "ann", role: "operator" }), refresh_token: `r${n}`,
  expires_in: 900, refresh_expires_in: 86_400, token_type: "bearer" });

describe("refreshSession", () => {
  beforeEach(installBrowser);
  afterEach(() => vi.unstubAllGlobals());

  it("presents a refresh token once even when two tabs ask together", async () => {
    const first: Session = { accessToken: "a0", refreshToken: "r0", accessExpiresAt: 0, subject: "ann", role: "operator" };
    writeSession(first);
    const fetch = vi.fn(async () => new Response(JSON.stringify(pair(1)), { status: 200 }));
    vi.stubGlobal("fetch", fetch);
    const [a, b] = await Promise.all([refreshSession("http://api", "r0"), refreshSession("http://api", "r0")]);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(a?.refreshToken).toBe("r1");
    expect(b?.refreshToken).toBe("r1");
    expect(readSession()?.role).toBe("operator");
  });

  it("ends the session when the API refuses the refresh token", async () => {
    writeSession({ accessToken: "a0", refreshToken: "r0", accessExpiresAt: 0, subject: "ann", role: "viewer" });
    vi.stubGlobal("fetch", vi.fn(async () => new Response("{}", { status: 401 })));
    expect(await refreshSession("http://api", "r0")).toBeNull();
    expect(readSession()).toBeNull();
  });
});
