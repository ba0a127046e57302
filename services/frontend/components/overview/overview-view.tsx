"use client";
/** The first screen: open incidents by severity, alert volume, noise reduction, noisy sources, upcoming
 * exhaustion and store health — one request (GET /api/v1/overview). */
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { call, type Schemas } from "@/lib/api/client";
import { countPoints } from "@/lib/charts";
import { SeverityBadge } from "@/components/ui/badges";
import { QueryView } from "@/components/ui/states";
import { Time } from "@/components/ui/time";
import { TimeChart } from "@/components/ui/time-chart";
import { ExhaustionTable } from "@/components/anomalies/exhaustion-table";
import { NoiseFunnel } from "@/components/overview/noise-funnel";

const SEVERITIES: Schemas["Severity"][] = ["critical", "high", "medium", "low", "info"];

function OpenIncidents({ counts }: { counts: Record<string, number> }) {
  return (
    <section className="panel" aria-labelledby="open-incidents">
      <h2 id="open-incidents">Open incidents</h2>
      <div className="stats">
        {SEVERITIES.map((severity) => (
          <Link key={severity} className="stat" href={`/incidents?severity=${severity}`}>
            <strong>{counts[severity] ?? 0}</strong>
            <SeverityBadge severity={severity} />
          </Link>
        ))}
      </div>
    </section>
  );
}

function TopSources({ sources }: { sources: Schemas["SourceVolume"][] }) {
  return (
    <section className="panel" aria-labelledby="top-sources">
      <h2 id="top-sources">Noisiest sources</h2>
      {sources.length === 0 ? <p className="muted">No alerts in this window.</p> : (
        <table>
          <thead><tr><th>Source</th><th className="num">Alerts</th></tr></thead>
          <tbody>
            {sources.map((s) => (
              <tr key={s.source}>
                <td><Link href={`/alerts?source=${encodeURIComponent(s.source)}`}>{s.source}</Link></td>
                <td className="num">{s.alerts}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Stores({ stores }: { stores: Schemas["StoreHealth"][] }) {
  return (
    <section className="panel" aria-labelledby="stores">
      <h2 id="stores">Stores</h2>
      <ul className="row" style={{ listStyle: "none", padding: 0, margin: 0, gap: "1rem" }}>
        {stores.map((s) => (
          <li key={s.name} title={s.detail}>
            <span className={`badge sev-${s.ok ? "low" : "critical"}`}>{s.ok ? "up" : "down"}</span> {s.name}
            {!s.ok && <span className="muted"> — {s.detail}</span>}
          </li>
        ))}
      </ul>
    </section>
  );
}

function Overview({ data }: { data: Schemas["Overview"] }) {
  return (
    <>
      <p className="muted">Last {data.hours} h, since <Time iso={data.window_start} />.</p>
      <div className="grid">
        <OpenIncidents counts={data.open_incidents_by_severity} />
        <Stores stores={data.stores} />
      </div>
      <section className="panel" aria-labelledby="alert-volume">
        <h2 id="alert-volume">Alert volume</h2>
        <TimeChart data={countPoints(data.alert_volume)} kind="bar" label="Alerts per hour" height={200} />
      </section>
      <div className="grid">
        <NoiseFunnel noise={data.noise_reduction} />
        <TopSources sources={data.top_sources} />
      </div>
      <section className="panel" aria-labelledby="exhaustion">
        <h2 id="exhaustion">Upcoming exhaustion</h2>
        <ExhaustionTable items={data.exhaustion} />
      </section>
    </>
  );
}

export function OverviewView() {
  const api = useApi();
  const query = useQuery({
    queryKey: ["overview"],
    queryFn: () => call(api.GET("/api/v1/overview", { params: { query: { hours: 24 } } })),
    refetchInterval: 30_000,
  });
  return (
    <>
      <h1>Overview</h1>
      <QueryView query={query} what="the overview">{(data) => <Overview data={data} />}</QueryView>
    </>
  );
}
