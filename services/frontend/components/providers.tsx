"use client";
/** Client-side context: the API's URL (read on the server at request time), the typed client, TanStack Query
 * with its retry rule (its cache emptied whenever the signed-in user changes), and the shared session with its
 * one refresh timer. */
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { createContext, Fragment, useContext, useEffect, useMemo, useState, useSyncExternalStore, type ReactNode } from "react";
import { ApiError, makeApi, type Api } from "@/lib/api/client";
import { msUntilRefresh, readSession, refreshSession, subscribeSession, type Session } from "@/lib/auth/session";

const ApiUrlContext = createContext<string>("");
const ApiContext = createContext<Api | null>(null);

export const useApiUrl = (): string => useContext(ApiUrlContext);

export function useApi(): Api {
  const api = useContext(ApiContext);
  if (!api) throw new Error("useApi outside <Providers>");
  return api;
}

function retry(failures: number, error: Error): boolean {
  const status = error instanceof ApiError ? error.status : 0;
  return failures < 2 && (status === 0 || status >= 500 || status === 429);
}

/** The signed-in session of this browser (shared by its tabs); undefined while the page hydrates. */
export function useSession(): Session | null | undefined {
  return useSyncExternalStore(subscribeSession, readSession, () => undefined);
}

const userOf = (session: Session | null | undefined): string => (session ? `${session.role}:${session.subject}` : "");

/** Empties `queryClient` whenever the signed-in user (subject or role) changes, sign-out and an expired session
 * included, in whichever tab it happened: nothing fetched for one user is shown to the next. */
export function clearOnUserChange(queryClient: QueryClient): (session: Session | null) => void {
  let user: string | undefined; // undefined until the first session is seen
  return (session) => {
    const next = userOf(session);
    if (user !== undefined && next !== user) queryClient.clear();
    user = next;
  };
}

function useRefreshTimer(apiUrl: string, session: Session | null | undefined): void {
  useEffect(() => {
    if (!session) return;
    const timer = setTimeout(() => {
      refreshSession(apiUrl, session.refreshToken).catch(() => undefined); // retried by the next request
    }, msUntilRefresh(session));
    return () => clearTimeout(timer);
  }, [apiUrl, session]);
}

export function Providers({ apiUrl, children }: { apiUrl: string; children: ReactNode }) {
  const api = useMemo(() => makeApi(apiUrl), [apiUrl]);
  const [queryClient] = useState(
    () =>
      new QueryClient({
        defaultOptions: { queries: { staleTime: 10_000, retry, refetchOnWindowFocus: false } },
      }),
  );
  useEffect(() => {
    const seen = clearOnUserChange(queryClient);
    seen(readSession());
    return subscribeSession(() => seen(readSession())); // before React renders the change
  }, [queryClient]);
  const session = useSession();
  useRefreshTimer(apiUrl, session);
  return (
    <ApiUrlContext.Provider value={apiUrl}>
      <ApiContext.Provider value={api}>
        <QueryClientProvider client={queryClient}>
          {/* a new user's pages mount afresh, so none keeps showing what the previous user's queries held */}
          <Fragment key={userOf(session)}>{children}</Fragment>
        </QueryClientProvider>
      </ApiContext.Provider>
    </ApiUrlContext.Provider>
  );
}
