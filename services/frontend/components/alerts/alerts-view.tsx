"use client";
/** Alerts: filtered, cursor-paged, and live — ids announced on the WebSocket are read and upserted in place
 * (see live-rows.ts); a reconnect or resuming live reloads the pages, as events may have been missed. */
import { useInfiniteQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { useApi } from "@/components/providers";
import { call } from "@/lib/api/client";
import { useLive, type LiveEvent } from "@/lib/live";
import { useUrlParams } from "@/lib/url-state";
import { alertsKey, alertsQuery, type AlertFilters } from "@/components/alerts/filters";
import { LiveAlertRows } from "@/components/alerts/live-rows";
import { AlertFiltersBar } from "@/components/alerts/alert-filters";
import { AlertTable } from "@/components/alerts/alert-table";
import { QueryView } from "@/components/ui/states";

const KEYS = ["severity", "status", "source", "host", "period"] as const;

function useLiveRows(filters: AlertFilters): LiveAlertRows {
  const api = useApi();
  const queryClient = useQueryClient();
  const key = JSON.stringify(filters); // a new object each render: one LiveAlertRows per set of filters
  const rows = useMemo(() => new LiveAlertRows({
    queryClient, filters: JSON.parse(key) as AlertFilters,
    read: (id) => call(api.GET("/api/v1/alerts/{alert_id}", { params: { path: { alert_id: id } } })),
  }), [api, queryClient, key]);
  useEffect(() => () => rows.stop(), [rows]);
  return rows;
}

function useAlertPages(filters: AlertFilters, rows: LiveAlertRows) {
  const api = useApi();
  return useInfiniteQuery({
    queryKey: alertsKey(filters),
    queryFn: ({ pageParam }) => {
      rows.pagesRead();
      return call(api.GET("/api/v1/alerts", { params: { query: { ...alertsQuery(filters), cursor: pageParam } } }));
    },
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
}

export function AlertsView() {
  const [filters, set] = useUrlParams(KEYS);
  const [paused, setPaused] = useState(false);
  const rows = useLiveRows(filters);
  const query = useAlertPages(filters, rows);
  const state = useLive((event: LiveEvent) => {
    if (!paused && event.type === "alert.stored" && event.payload.alert_id) rows.announce(event.payload.alert_id);
  }, () => {
    if (!paused) void rows.reload(); // events were missed while the socket was down
  });
  function togglePause() {
    if (paused) void rows.reload(); // catch up on what was skipped
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
      <div className="panel"><AlertFiltersBar values={filters} set={set} /></div>
      <div className="panel">
        <QueryView query={query} what="alerts" isEmpty={(d) => d.pages.every((p) => p.items.length === 0)}
          empty="No alerts match these filters. New ones appear here as they arrive.">
          {(data) => <AlertTable alerts={data.pages.flatMap((p) => p.items)} onChanged={(row) => rows.show([row])} />}
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
