/** The three states every data panel has besides its data: loading, empty and failed. */
import type { ReactNode } from "react";

export function Loading({ what }: { what: string }) {
  return <div className="state" role="status" aria-busy="true">Loading {what}…</div>;
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state">{children}</div>;
}

export function Failed({ error, retry }: { error: Error; retry?: () => void }) {
  return (
    <div className="state error" role="alert">
      <p>{error.message}</p>
      {retry && <button onClick={retry}>Retry</button>}
    </div>
  );
}

interface QueryLike<T> {
  data: T | undefined;
  error: Error | null;
  isPending: boolean;
  refetch: () => unknown;
}

/** Renders the loading, error or empty state of a query, or `children(data)` once there is data. */
export function QueryView<T>(props: {
  query: QueryLike<T>;
  what: string;
  isEmpty?: (data: T) => boolean;
  empty?: ReactNode;
  children: (data: T) => ReactNode;
}) {
  const { query, what, isEmpty, empty, children } = props;
  if (query.isPending) return <Loading what={what} />;
  if (query.error && query.data === undefined) return <Failed error={query.error} retry={() => query.refetch()} />;
  const data = query.data as T;
  if (isEmpty?.(data)) return <Empty>{empty ?? `No ${what} yet.`}</Empty>;
  return <>{children(data)}</>;
}
