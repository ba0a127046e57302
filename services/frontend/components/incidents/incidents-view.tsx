"use client";
/** Incidents: filtered by severity, status and host, cursor-paged, refreshed when the live channel announces
 * an incident change or reconnects. */
import Link from "next/link";
import { useInfiniteQuery, useQueryClient } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { call, type Schemas } from "@/lib/api/client";
import { useLiveRefresh } from "@/lib/live";
import { useUrlParams } from "@/lib/url-state";
import { SeverityBadge, StatusBadge } from "@/components/ui/badges";
import { QueryView } from "@/components/ui/states";
import { Time } from "@/components/ui/time";

const KEYS = ["severity", "status", "host"] as const;

function IncidentTable({ items }: { items: Schemas["IncidentRead"][] }) {
  return (
    <table>
      <thead>
        <tr><th>Severity</th><th>Title</th><th>Status</th><th>Hosts</th><th className="num">Events</th><th>First seen</th><th>Last seen</th></tr>
      </thead>
      <tbody>
        {items.map((i) => (
          <tr key={i.id}>
            <td><SeverityBadge severity={i.severity} /></td>
            <td><Link href={`/incidents/${i.id}`}>{i.title}</Link></td>
            <td><StatusBadge status={i.status} /></td>
            <td>{i.hosts.join(", ") || "—"}</td>
            <td className="num">{i.event_count}</td>
            <td><Time iso={i.first_seen_at} /></td>
            <td><Time iso={i.last_seen_at} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function IncidentsView() {
  const api = useApi();
  const queryClient = useQueryClient();
  const [values, set] = useUrlParams(KEYS);
  const queryKey = ["incidents", values] as const;
  const query = useInfiniteQuery({
    queryKey,
    queryFn: ({ pageParam }) => call(api.GET("/api/v1/incidents", { params: { query: {
      severity: values.severity ? [values.severity as Schemas["Severity"]] : undefined,
      status: values.status ? [values.status as Schemas["IncidentRead"]["status"]] : undefined,
      host: values.host || undefined, cursor: pageParam, limit: 50,
    } } })),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  useLiveRefresh((event) => event.type.startsWith("incident."),
    () => void queryClient.invalidateQueries({ queryKey: ["incidents"] }));
  return (
    <>
      <h1>Incidents</h1>
      <div className="panel">
        <fieldset className="row" aria-label="Filters">
          <label>Severity
            <select value={values.severity} onChange={(e) => set("severity", e.target.value)}>
              <option value="">all</option>
              {["critical", "high", "medium", "low", "info"].map((s) => <option key={s}>{s}</option>)}
            </select>
          </label>
          <label>Status
            <select value={values.status} onChange={(e) => set("status", e.target.value)}>
              <option value="">all</option>
              {["open", "acknowledged", "resolved"].map((s) => <option key={s}>{s}</option>)}
            </select>
          </label>
          <label>Host
            <input value={values.host} onChange={(e) => set("host", e.target.value)} placeholder="any" size={14} />
          </label>
        </fieldset>
      </div>
      <div className="panel">
        <QueryView query={query} what="incidents" isEmpty={(d) => d.pages.every((p) => p.items.length === 0)}
          empty="No incidents match these filters.">
          {(data) => <IncidentTable items={data.pages.flatMap((p) => p.items)} />}
        </QueryView>
        {query.hasNextPage && (
          <button onClick={() => void query.fetchNextPage()} disabled={query.isFetchingNextPage}>Load more</button>
        )}
      </div>
    </>
  );
}
