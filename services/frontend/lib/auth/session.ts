/** The signed-in session, kept in localStorage so every tab shares one refresh token.
 *
 * Refresh tokens rotate and a reused one revokes the whole family, so exactly one tab refreshes at a time:
 * the refresh runs under a Web Lock, and a tab that waited re-reads the store and takes the pair the other tab
 * already obtained instead of presenting the rotated token again. */
import type { components } from "@/lib/api/schema";

type TokenPair = components["schemas"]["TokenPair"];
export type Role = "viewer" | "operator" | "admin";

export interface Session {
  accessToken: string;
  refreshToken: string;
  accessExpiresAt: number; // epoch ms
  subject: string;
  role: Role;
}

const KEY = "aiops.session";
const LOCK = "aiops.refresh";
const EARLY_MS = 60_000; // refresh this long before the access token expires
const changes = new EventTarget();

let cached: { raw: string | null; session: Session | null } = { raw: null, session: null };

/** The stored session; the same object until the stored value changes (a stable external-store snapshot). */
export function readSession(): Session | null {
  if (typeof window === "undefined") return null;
  const raw = window.localStorage.getItem(KEY);
  if (raw !== cached.raw) cached = { raw, session: raw ? (JSON.parse(raw) as Session) : null };
  return cached.session;
}

export function writeSession(session: Session | null): void {
  if (session) window.localStorage.setItem(KEY, JSON.stringify(session));
  else window.localStorage.removeItem(KEY);
  changes.dispatchEvent(new Event("change"));
}

/** Calls `listener` when this tab or another one signs in, refreshes or signs out. */
export function subscribeSession(listener: () => void): () => void {
  const onStorage = (event: StorageEvent) => event.key === KEY && listener();
  window.addEventListener("storage", onStorage);
  changes.addEventListener("change", listener);
  return () => {
    window.removeEventListener("storage", onStorage);
    changes.removeEventListener("change", listener);
  };
}

function claims(jwt: string): { sub: string; role: Role } {
  const part = jwt.split(".")[1] ?? "";
  return JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/"))) as { sub: string; role: Role };
}

export function sessionFromPair(pair: TokenPair): Session {
  const { sub, role } = claims(pair.access_token);
  return {
    accessToken: pair.access_token,
    refreshToken: pair.refresh_token,
    accessExpiresAt: Date.now() + pair.expires_in * 1000,
    subject: sub,
    role,
  };
}

export function msUntilRefresh(session: Session): number {
  return Math.max(0, session.accessExpiresAt - EARLY_MS - Date.now());
}

async function withLock<T>(work: () => Promise<T>): Promise<T> {
  // Web Locks exist in secure contexts (https, localhost); elsewhere one tab's refresh is not coordinated.
  if (typeof navigator !== "undefined" && navigator.locks) return navigator.locks.request(LOCK, work);
  return work();
}

/** Exchanges `stale` for a new pair unless another tab already did; null when the sign-in is over. */
export function refreshSession(apiUrl: string, stale: string): Promise<Session | null> {
  return withLock(async () => {
    const current = readSession();
    if (!current || current.refreshToken !== stale) return current;
    const response = await fetch(`${apiUrl}/api/v1/auth/refresh`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: stale }),
    });
    if (response.status === 401) {
      writeSession(null);
      return null;
    }
    if (!response.ok) throw new Error(`refresh failed: HTTP ${response.status}`);
    const session = sessionFromPair((await response.json()) as TokenPair);
    writeSession(session);
    return session;
  });
}

/** An access token valid for at least a while longer, refreshing first when it is about to expire. */
export async function validAccessToken(apiUrl: string): Promise<string | null> {
  const session = readSession();
  if (!session) return null;
  if (msUntilRefresh(session) > 0) return session.accessToken;
  return (await refreshSession(apiUrl, session.refreshToken))?.accessToken ?? null;
}
