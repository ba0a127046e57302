"use client";
/** Audit log (admin): who did what to which entity, newest first, filtered by actor and entity type. */
import { useInfiniteQuery } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { useCan } from "@/components/auth/use-can";
import { call } from "@/lib/api/client";
import { useUrlParams } from "@/lib/url-state";
import { Empty, QueryView } from "@/components/ui/states";
import { Time } from "@/components/ui/time";

const KEYS = ["actor", "entity_type"] as const;

export function AuditView() {
  const api = useApi();
  const isAdmin = useCan("admin");
  const [values, set] = useUrlParams(KEYS);
  const entries = useInfiniteQuery({
    queryKey: ["audit", values],
    enabled: isAdmin,
    queryFn: ({ pageParam }) => call(api.GET("/api/v1/audit", { params: { query: {
      actor: values.actor || undefined, entity_type: values.entity_type || undefined, cursor: pageParam, limit: 50,
    } } })),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  if (!isAdmin) return <Empty>The audit log is for admins.</Empty>;
  return (
    <>
      <h1>Audit log</h1>
      <div className="panel">
        <fieldset className="row" aria-label="Filters">
          <label>Actor<input value={values.actor} onChange={(e) => set("actor", e.target.value)} size={14} /></label>
          <label>Entity type<input value={values.entity_type} onChange={(e) => set("entity_type", e.target.value)} size={14} /></label>
        </fieldset>
      </div>
      <div className="panel">
        <QueryView query={entries} what="audit entries" isEmpty={(d) => d.pages.every((p) => p.items.length === 0)}>
          {(data) => (
            <table>
              <thead><tr><th>When</th><th>Actor</th><th>Action</th><th>Entity</th><th>Change</th></tr></thead>
              <tbody>
                {data.pages.flatMap((p) => p.items).map((e) => (
                  <tr key={e.id}>
                    <td><Time iso={e.at} /></td>
                    <td>{e.actor}</td>
                    <td>{e.action}</td>
                    <td>{e.entity_type} <code>{e.entity_id.slice(0, 8)}</code></td>
                    <td><code>{JSON.stringify(e.before ?? {})} → {JSON.stringify(e.after ?? {})}</code></td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </QueryView>
        {entries.hasNextPage && <button onClick={() => void entries.fetchNextPage()}>Load more</button>}
      </div>
    </>
  );
}
