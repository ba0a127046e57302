"use client";
/** Fleet: every host that reported key metrics lately, with its health, last seen time, latest values and
 * sparklines of the last six hours. */
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { call, type Schemas } from "@/lib/api/client";
import { health, KEY_METRICS, type KeyMetric } from "@/components/fleet/key-metrics";
import { useHostSeries } from "@/components/fleet/use-series";
import { QueryView } from "@/components/ui/states";
import { Time } from "@/components/ui/time";
import { Sparkline } from "@/components/ui/time-chart";

function MetricCell({ host, metric, value }: { host: string; metric: KeyMetric; value: number | null | undefined }) {
  const series = useHostSeries(host, metric, 6);
  return (
    <td>
      <div className="row" style={{ flexWrap: "nowrap" }}>
        <span style={{ minWidth: "3.5rem", textAlign: "right" }}>{value == null ? "—" : `${value.toFixed(1)}${metric.unit}`}</span>
        {series.data && <Sparkline data={series.data} label={`${metric.label} of ${host}, last 6 hours`} />}
        {series.error && !series.data && <span className="error" title={series.error.message}>no trend</span>}
      </div>
    </td>
  );
}

function HostRow({ host }: { host: Schemas["HostRead"] }) {
  const state = health(host);
  return (
    <tr>
      <td><span className={`badge sev-${state}`}>{state === "low" ? "ok" : state === "medium" ? "warning" : "critical"}</span></td>
      <td><Link href={`/fleet/${encodeURIComponent(host.host)}`}>{host.host}</Link></td>
      <td><Time iso={host.last_seen} /></td>
      {KEY_METRICS.map((m) => <MetricCell key={m.key} host={host.host} metric={m} value={host[m.key]} />)}
    </tr>
  );
}

export function FleetView() {
  const api = useApi();
  const fleet = useQuery({
    queryKey: ["fleet"],
    queryFn: () => call(api.GET("/api/v1/metrics/fleet", { params: { query: { since: "24h" } } })),
    refetchInterval: 30_000,
  });
  return (
    <>
      <h1>Fleet</h1>
      <div className="panel">
        <QueryView query={fleet} what="hosts" isEmpty={(d) => d.hosts.length === 0}
          empty="No host reported metrics in the last 24 hours. Create a Telegraf source to start.">
          {(data) => (
            <table>
              <thead>
                <tr><th>Health</th><th>Host</th><th>Last seen</th>{KEY_METRICS.map((m) => <th key={m.key}>{m.label}</th>)}</tr>
              </thead>
              <tbody>{data.hosts.map((h) => <HostRow key={h.host} host={h} />)}</tbody>
            </table>
          )}
        </QueryView>
      </div>
    </>
  );
}
