"use client";
/** One host: charts of its key metrics over a chosen period, and its incidents. */
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { call } from "@/lib/api/client";
import { useUrlParams } from "@/lib/url-state";
import { KEY_METRICS, type KeyMetric } from "@/components/fleet/key-metrics";
import { useHostSeries } from "@/components/fleet/use-series";
import { SeverityBadge, StatusBadge } from "@/components/ui/badges";
import { QueryView } from "@/components/ui/states";
import { Time } from "@/components/ui/time";
import { TimeChart } from "@/components/ui/time-chart";

const PERIODS = [1, 6, 24, 168];

function MetricPanel({ host, metric, hours }: { host: string; metric: KeyMetric; hours: number }) {
  const series = useHostSeries(host, metric, hours);
  return (
    <section className="panel" aria-label={`${metric.label} chart`}>
      <h2>{metric.label}</h2>
      <QueryView query={series} what={metric.label} isEmpty={(d) => d.length === 0} empty={`No ${metric.label} data in this period.`}>
        {(data) => <TimeChart data={data} unit={metric.unit} label={`${metric.label} of ${host}`} height={180} />}
      </QueryView>
    </section>
  );
}

function HostIncidents({ host }: { host: string }) {
  const api = useApi();
  const incidents = useQuery({
    queryKey: ["incidents", { host }],
    queryFn: () => call(api.GET("/api/v1/incidents", { params: { query: { host, limit: 20 } } })),
  });
  return (
    <QueryView query={incidents} what="incidents" isEmpty={(d) => d.items.length === 0} empty="No incidents on this host.">
      {(data) => (
        <table>
          <thead><tr><th>Severity</th><th>Title</th><th>Status</th><th>Last seen</th></tr></thead>
          <tbody>
            {data.items.map((i) => (
              <tr key={i.id}>
                <td><SeverityBadge severity={i.severity} /></td>
                <td><Link href={`/incidents/${i.id}`}>{i.title}</Link></td>
                <td><StatusBadge status={i.status} /></td>
                <td><Time iso={i.last_seen_at} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </QueryView>
  );
}

export function HostDetail({ host }: { host: string }) {
  const [values, set] = useUrlParams(["hours"] as const);
  const hours = Number(values.hours) || 6;
  return (
    <>
      <div className="spread">
        <h1>{host}</h1>
        <label>Period
          <select value={hours} onChange={(e) => set("hours", e.target.value)}>
            {PERIODS.map((h) => <option key={h} value={h}>{h < 48 ? `${h} h` : `${h / 24} days`}</option>)}
          </select>
        </label>
      </div>
      <div className="grid">
        {KEY_METRICS.map((m) => <MetricPanel key={m.key} host={host} metric={m} hours={hours} />)}
      </div>
      <section className="panel" aria-labelledby="host-incidents">
        <h2 id="host-incidents">Incidents</h2>
        <HostIncidents host={host} />
      </section>
    </>
  );
}
