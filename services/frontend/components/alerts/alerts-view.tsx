"use client";
/** Alerts: filtered, cursor-paged, and live — ids announced on the WebSocket are fetched and upserted in
 * place (batched every 100 ms; a burst refetches the first page instead). */
import { useInfiniteQuery, useQueryClient, type InfiniteData } from "@tanstack/react-query";
import { useCallback, useRef, useState } from "react";
import { useApi } from "@/components/providers";
import { call, type Schemas } from "@/lib/api/client";
import { useLive, type LiveEvent } from "@/lib/live";
import { useUrlParams } from "@/lib/url-state";
import { mergeAlerts } from "@/components/alerts/merge";
import { periodStart, type AlertFilters } from "@/components/alerts/filters";
import { AlertFiltersBar } from "@/components/alerts/alert-filters";
import { AlertTable } from "@/components/alerts/alert-table";
import { QueryView } from "@/components/ui/states";

type Alert = Schemas["AlertRead"];
type Pages = InfiniteData<Schemas["AlertPage"], string | null>;
const KEYS = ["severity", "status", "source", "host", "period"] as const;
const BURST = 20; // more ids than this in one batch: refetch instead of fetching rows one by one

function useAlertPages(filters: AlertFilters) {
  const api = useApi();
  const query = {
    severity: filters.severity ? [filters.severity as Schemas["Severity"]] : undefined,
    status: filters.status ? [filters.status as Schemas["AlertStatus"]] : undefined,
    source: filters.source ? [filters.source] : undefined,
    host: filters.host || undefined,
    since: filters.since || undefined,
    limit: 50,
  };
  return useInfiniteQuery({
    queryKey: ["alerts", filters],
    queryFn: ({ pageParam }) => call(api.GET("/api/v1/alerts", { params: { query: { ...query, cursor: pageParam } } })),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
}

function useLiveAlerts(filters: AlertFilters, paused: boolean) {
  const api = useApi();
  const queryClient = useQueryClient();
  const pending = useRef(new Set<string>());
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const upsert = useCallback((rows: Alert[]) => {
    queryClient.setQueryData<Pages>(["alerts", filters], (data) => data && { ...data, pages: mergeAlerts(data.pages, rows, filters) });
  }, [queryClient, filters]);
  const flush = useCallback(async () => {
    const ids = [...pending.current];
    pending.current.clear();
    const refetch = () => queryClient.invalidateQueries({ queryKey: ["alerts", filters] });
    if (ids.length > BURST) return refetch();
    const rows = ids.map((id) => call(api.GET("/api/v1/alerts/{alert_id}", { params: { path: { alert_id: id } } })));
    await Promise.all(rows).then(upsert, refetch); // a row that cannot be read: reload the page of rows instead
  }, [api, queryClient, filters, upsert]);
  const onEvent = useCallback((event: LiveEvent) => {
    if (paused || event.type !== "alert.stored" || !event.payload.alert_id) return;
    pending.current.add(event.payload.alert_id);
    if (!timer.current) timer.current = setTimeout(() => { timer.current = undefined; void flush(); }, 100);
  }, [paused, flush]);
  return { state: useLive(onEvent), upsert };
}

export function AlertsView() {
  const [values, set] = useUrlParams(KEYS);
  const filters: AlertFilters = { ...values, since: periodStart(values.period) };
  const [paused, setPaused] = useState(false);
  const query = useAlertPages(filters);
  const { state, upsert } = useLiveAlerts(filters, paused);
  const queryClient = useQueryClient();
  function togglePause() {
    if (paused) void queryClient.invalidateQueries({ queryKey: ["alerts", filters] }); // catch up on what was skipped
    setPaused(!paused);
  }
  return (
    <>
      <div className="spread">
        <h1>Alerts</h1>
        <span className="row">
          <span className="live" data-state={paused ? "closed" : state}>{paused ? "paused" : state === "open" ? "live" : "connecting"}</span>
          <button onClick={togglePause} aria-pressed={paused}>{paused ? "Resume live" : "Pause live"}</button>
        </span>
      </div>
      <div className="panel"><AlertFiltersBar values={values} set={set} /></div>
      <div className="panel">
        <QueryView query={query} what="alerts" isEmpty={(d) => d.pages.every((p) => p.items.length === 0)}
          empty="No alerts match these filters. New ones appear here as they arrive.">
          {(data) => <AlertTable alerts={data.pages.flatMap((p) => p.items)} onChanged={(row) => upsert([row])} />}
        </QueryView>
        {query.hasNextPage && (
          <button onClick={() => void query.fetchNextPage()} disabled={query.isFetchingNextPage}>
            {query.isFetchingNextPage ? "Loading…" : "Load more"}
          </button>
        )}
      </div>
    </>
  );
}
