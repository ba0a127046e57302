"use client";
/** Anomalies and forecasts: pick a series (or one of the day's anomalies) to see it with its markers and its
 * forecast; the exhaustion table lists every series predicted to reach its threshold. */
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { call, type Schemas } from "@/lib/api/client";
import { useUrlParams } from "@/lib/url-state";
import { ExhaustionTable } from "@/components/anomalies/exhaustion-table";
import { SeriesPanels } from "@/components/anomalies/series-panels";
import { SeverityBadge } from "@/components/ui/badges";
import { QueryView } from "@/components/ui/states";
import { Time } from "@/components/ui/time";

const KEYS = ["host", "measurement", "field"] as const;

function seriesHref(a: { host: string | null; measurement: string; field: string }): string {
  return `/anomalies?${new URLSearchParams({ host: a.host ?? "", measurement: a.measurement, field: a.field })}`;
}

function RecentAnomalies({ items }: { items: Schemas["AnomalyPointRead"][] }) {
  return (
    <table>
      <thead><tr><th>When</th><th>Host</th><th>Series</th><th className="num">Value</th><th className="num">Score</th><th>Severity</th></tr></thead>
      <tbody>
        {items.slice(0, 50).map((a) => (
          <tr key={`${a.series}-${a.time}`}>
            <td><Time iso={a.time} /></td>
            <td>{a.host ?? "—"}</td>
            <td><Link href={seriesHref(a)}>{a.measurement}.{a.field}</Link></td>
            <td className="num">{a.value?.toFixed(2) ?? "—"}</td>
            <td className="num">{a.score.toFixed(2)}</td>
            <td>{a.severity ? <SeverityBadge severity={a.severity} /> : "—"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function AnomaliesView() {
  const api = useApi();
  const [values, set] = useUrlParams(KEYS);
  const chosen = values.host && values.measurement && values.field;
  const recent = useQuery({
    queryKey: ["anomalies", "recent"],
    queryFn: () => call(api.GET("/api/v1/anomalies", { params: { query: { start: new Date(Date.now() - 86_400_000).toISOString() } } })),
  });
  const exhaustion = useQuery({
    queryKey: ["exhaustion"],
    queryFn: () => call(api.GET("/api/v1/forecasts/exhaustion", { params: { query: { limit: 50 } } })),
  });
  return (
    <>
      <h1>Anomalies and forecasts</h1>
      <div className="panel">
        <fieldset className="row" aria-label="Series">
          {KEYS.map((key) => (
            <label key={key}>{key[0]?.toUpperCase() + key.slice(1)}
              <input value={values[key]} onChange={(e) => set(key, e.target.value)} size={14} />
            </label>
          ))}
        </fieldset>
      </div>
      {chosen ? <SeriesPanels series={values} /> : <p className="muted">Choose a series above or from the tables below.</p>}
      <section className="panel" aria-labelledby="exhaustion-title">
        <h2 id="exhaustion-title">Exhaustion</h2>
        <QueryView query={exhaustion} what="exhaustion predictions">{(d) => <ExhaustionTable items={d.items} />}</QueryView>
      </section>
      <section className="panel" aria-labelledby="recent-title">
        <h2 id="recent-title">Anomalies in the last 24 h</h2>
        <QueryView query={recent} what="anomalies" isEmpty={(d) => d.items.length === 0} empty="No anomalies in the last 24 hours.">
          {(d) => <RecentAnomalies items={d.items} />}
        </QueryView>
      </section>
    </>
  );
}
