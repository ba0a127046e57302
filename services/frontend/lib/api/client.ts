/** The typed API client: openapi-fetch over the generated `paths`, with the bearer token attached, one
 * refresh-and-retry on 401, and API failures turned into `ApiError`s that name the problem. */
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, paths } from "@/lib/api/schema";
import { readSession, refreshSession, validAccessToken } from "@/lib/auth/session";
import { reportReachable, reportUnreachable } from "@/lib/api/outage";

export type Schemas = components["schemas"];
export type Api = Client<paths>;

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function detailOf(error: unknown, status: number): string {
  const detail = (error as { detail?: unknown } | undefined)?.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((d: { loc?: unknown[]; msg?: string }) => `${(d.loc ?? []).join(".")}: ${d.msg}`).join("; ");
  }
  return `unexpected answer (HTTP ${status})`;
}

/** "in 30 min", "in 2 h 5 min": how long until `seconds` from now. */
function inTime(seconds: number): string {
  if (seconds < 60) return `in ${Math.max(Math.ceil(seconds), 1)} s`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 60) return `in ${minutes} min`;
  return `in ${Math.floor(minutes / 60)} h` + (minutes % 60 ? ` ${minutes % 60} min` : "");
}

/** When a 429 or 503 says to try again (Retry-After: seconds or an HTTP date), or null when it does not. */
export function retryHint(response: Response, now: number = Date.now()): string | null {
  if (response.status !== 429 && response.status !== 503) return null;
  const value = response.headers.get("Retry-After")?.trim();
  if (!value) return null;
  const seconds = /^\d+$/.test(value) ? Number(value) : (Date.parse(value) - now) / 1000;
  return Number.isNaN(seconds) ? null : `try again ${inTime(seconds)}`;
}

/** The ApiError of a failed answer: the API's `detail` (its message), and when to try again if it says. */
export function apiErrorOf(response: Response, error: unknown): ApiError {
  const hint = retryHint(response);
  const detail = detailOf(error, response.status);
  return new ApiError(response.status, hint ? `${detail}; ${hint}` : detail);
}

/** Unwraps an openapi-fetch result: the data, or an ApiError with the API's `detail`. */
export async function call<T>(pending: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await pending;
  if (!response.ok) throw apiErrorOf(response, error);
  return data as T;
}

function authMiddleware(apiUrl: string): Middleware {
  const originals = new WeakMap<Request, Request>();
  return {
    async onRequest({ request }) {
      originals.set(request, request.clone());
      const token = await validAccessToken(apiUrl);
      if (token) request.headers.set("Authorization", `Bearer ${token}`);
      return request;
    },
    async onResponse({ request, response }) {
      if (response.status >= 502 && response.status <= 504) reportUnreachable(`API answered ${response.status}`);
      else reportReachable();
      const original = originals.get(request);
      const session = readSession();
      if (response.status !== 401 || !original || !session) return response;
      const renewed = await refreshSession(apiUrl, session.refreshToken);
      if (!renewed) return response;
      original.headers.set("Authorization", `Bearer ${renewed.accessToken}`);
      return fetch(original);
    },
    onError({ error }) {
      reportUnreachable("the API cannot be reached");
      return new ApiError(0, `the API cannot be reached (${String(error)})`);
    },
  };
}

export function makeApi(apiUrl: string): Api {
  const api = createClient<paths>({ baseUrl: apiUrl });
  api.use(authMiddleware(apiUrl));
  return api;
}
