"use client";
/** One pipeline: its health dimensions with trends, build durations with anomalies marked, 7-day forecasts with
 * their 95 % band, the root-cause analysis of its latest anomaly, its alerts and its runs. */
import Link from "next/link";
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { ApiError, call, type Schemas } from "@/lib/api/client";
import { anomalyMarks, featurePoints, forecastPoints, webUrl } from "@/components/pipelines/prepare";
import { GradeBadge } from "@/components/pipelines/pipelines-view";
import { SeverityBadge, StatusBadge } from "@/components/ui/badges";
import { Empty, QueryView } from "@/components/ui/states";
import { Time } from "@/components/ui/time";
import { TimeChart } from "@/components/ui/time-chart";

const SERIES: Record<string, { label: string; feature: string; unit: string }> = {
  duration_s: { label: "Mean build duration", feature: "duration_s", unit: " s" },
  failure_rate: { label: "Failure rate", feature: "failed", unit: "" },
};

function Dimensions({ detail }: { detail: Schemas["PipelineDetail"] }) {
  if (detail.dimensions.length === 0) return <Empty>Not scored yet: the analysis runs every hour.</Empty>;
  return (
    <table>
      <thead><tr><th>Dimension</th><th>Weight</th><th>Score</th><th>Trend</th><th>Why</th></tr></thead>
      <tbody>
        {detail.dimensions.map((d) => (
          <tr key={d.name}>
            <td>{d.name.replace("_", " ")}</td>
            <td>{Math.round(d.weight * 100)} %</td>
            <td>{d.score.toFixed(0)}</td>
            <td>{d.trend} ({d.change > 0 ? "+" : ""}{d.change.toFixed(1)})</td>
            <td>{d.explanation}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Rca({ id }: { id: string }) {
  const api = useApi();
  const rca = useQuery({
    queryKey: ["pipelines", id, "rca"],
    queryFn: () => call(api.GET("/api/v1/pipelines/{pipeline_id}/rca", { params: { path: { pipeline_id: id } } }))
      .catch((e: unknown) => { if (e instanceof ApiError && e.status === 404) return null; throw e; }),
  });
  return (
    <QueryView query={rca} what="root-cause analysis" isEmpty={(d) => d === null} empty="No build anomaly in the last 7 days.">
      {(data) => data && (
        <>
          <p>{data.narrative} <small>({data.narrative_by === "llm" ? "written by the LLM" : "templated"})</small></p>
          <table>
            <thead><tr><th>Cause</th><th>Name</th><th>Explains</th></tr></thead>
            <tbody>
              {data.causes.map((c) => (
                <tr key={`${c.kind}:${c.name}`}><td>{c.kind.replace("_", " ")}</td><td>{c.name}</td><td>{Math.round(c.explained * 100)} %</td></tr>
              ))}
            </tbody>
          </table>
          <p><small>Onset <Time iso={data.onset_at} />; {data.metric} {data.before.toFixed(2)} → {data.after.toFixed(2)}.
            Series checks: {data.checks.map((c) => `${String(c.from)} (Granger p ${c.granger_p == null ? "n/a" : Number(c.granger_p).toExponential(1)})`).join(", ")}.
            Granger causality is predictive precedence, not proof.</small></p>
        </>
      )}
    </QueryView>
  );
}

function Forecasts({ id, runs }: { id: string; runs: Schemas["RunRead"][] }) {
  const api = useApi();
  const forecast = useQuery({
    queryKey: ["pipelines", id, "forecast"],
    queryFn: () => call(api.GET("/api/v1/pipelines/{pipeline_id}/forecast", { params: { path: { pipeline_id: id } } })),
  });
  return (
    <QueryView query={forecast} what="forecasts" isEmpty={(d) => d.series.length === 0} empty="Not enough history to forecast (14 days).">
      {(data) => (
        <div className="grid">
          {data.series.map((s) => {
            const meta = SERIES[s.metric] ?? { label: s.metric, feature: s.metric, unit: "" };
            const smape = s.backtest_smape;
            return (
              <section key={s.metric} aria-label={`${meta.label} forecast`}>
                <h3>{meta.label}, next 7 days</h3>
                <TimeChart data={forecastPoints(featurePoints(runs, meta.feature), s.points)} unit={meta.unit}
                  label={`${meta.label}: daily history and 7-day forecast with its ${Math.round(s.interval * 100)} % band`} height={180} />
                <small>{s.method}; backtest sMAPE {smape.chosen?.toFixed(1) ?? "n/a"} % vs seasonal naive {smape.seasonal_naive?.toFixed(1) ?? "n/a"} %</small>
              </section>
            );
          })}
        </div>
      )}
    </QueryView>
  );
}

/** A run's number, linked to its page in the CI when that is an http(s) address (the CI's data is not trusted). */
function RunNumber({ run }: { run: Schemas["RunRead"] }) {
  const url = webUrl(run.url);
  const label = run.number ?? run.external_id;
  return url ? <a href={url}>{label}</a> : <>{label}</>;
}

/** The runs table, 50 a page: the cursor pages back through runs sharing a start second and runs not started. */
function Runs({ id }: { id: string }) {
  const api = useApi();
  const runs = useInfiniteQuery({
    queryKey: ["pipelines", id, "runs", "pages"],
    queryFn: ({ pageParam }) => call(api.GET("/api/v1/pipelines/{pipeline_id}/runs", {
      params: { path: { pipeline_id: id }, query: { cursor: pageParam, limit: 50 } } })),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  return (
    <>
      <QueryView query={runs} what="runs" isEmpty={(d) => d.pages.every((p) => p.items.length === 0)} empty="No runs yet.">
        {(data) => (
          <table>
            <thead><tr><th>#</th><th>Result</th><th>Branch</th><th>Commit</th><th>Runner</th><th>Duration</th><th>Started</th></tr></thead>
            <tbody>
              {data.pages.flatMap((p) => p.items).map((r) => (
                <tr key={r.id}>
                  <td><RunNumber run={r} /></td>
                  <td><StatusBadge status={r.conclusion ?? r.status} /></td>
                  <td>{r.branch ?? "—"}</td>
                  <td><code>{r.commit_sha?.slice(0, 7) ?? "—"}</code></td>
                  <td>{r.runner ?? "—"}</td>
                  <td>{typeof r.features.duration_s === "number" ? `${Math.round(r.features.duration_s)} s` : "—"}</td>
                  <td><Time iso={r.started_at} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </QueryView>
      {runs.hasNextPage && <button onClick={() => void runs.fetchNextPage()} disabled={runs.isFetchingNextPage}>Load more</button>}
    </>
  );
}

export function PipelineDetail({ id }: { id: string }) {
  const api = useApi();
  const path = { params: { path: { pipeline_id: id } } };
  const detail = useQuery({ queryKey: ["pipelines", id], queryFn: () => call(api.GET("/api/v1/pipelines/{pipeline_id}", path)) });
  const runs = useQuery({
    queryKey: ["pipelines", id, "runs"],
    queryFn: () => call(api.GET("/api/v1/pipelines/{pipeline_id}/runs", { params: { path: { pipeline_id: id }, query: { limit: 500 } } })),
  });
  const anomalies = useQuery({
    queryKey: ["pipelines", id, "anomalies"],
    queryFn: () => call(api.GET("/api/v1/pipelines/{pipeline_id}/anomalies", path)),
  });
  return (
    <QueryView query={detail} what="pipeline">
      {(pipeline) => (
        <>
          <div className="spread">
            <h1>{pipeline.name}</h1>
            <p><GradeBadge grade={pipeline.grade} /> {pipeline.score == null ? "" : `${pipeline.score.toFixed(0)} / 100`}</p>
          </div>
          <section className="panel" aria-labelledby="pipeline-health"><h2 id="pipeline-health">Health</h2><Dimensions detail={pipeline} /></section>
          <section className="panel" aria-labelledby="pipeline-durations">
            <h2 id="pipeline-durations">Build durations</h2>
            <QueryView query={runs} what="runs" isEmpty={(d) => d.items.length === 0} empty="No runs yet.">
              {(data) => <TimeChart data={featurePoints(data.items, "duration_s")} unit=" s" height={200}
                marks={anomalies.data ? anomalyMarks(anomalies.data) : []} label={`Build durations of ${pipeline.name}, anomalies marked`} />}
            </QueryView>
          </section>
          <section className="panel" aria-labelledby="pipeline-forecast">
            <h2 id="pipeline-forecast">Forecasts</h2>
            <QueryView query={runs} what="forecasts">{(data) => <Forecasts id={id} runs={data.items} />}</QueryView>
          </section>
          <section className="panel" aria-labelledby="pipeline-rca"><h2 id="pipeline-rca">Root cause</h2><Rca id={id} /></section>
          <section className="panel" aria-labelledby="pipeline-anomalies">
            <h2 id="pipeline-anomalies">Anomalies and alerts</h2>
            <QueryView query={anomalies} what="anomalies" isEmpty={(d) => d.length === 0} empty="No alert on this pipeline.">
              {(data) => (
                <table>
                  <thead><tr><th>Severity</th><th>Alert</th><th>Status</th><th>First seen</th><th>Incident</th></tr></thead>
                  <tbody>
                    {data.map((a) => (
                      <tr key={a.alert_id}>
                        <td><SeverityBadge severity={a.severity} /></td>
                        <td>{a.title}<br /><small>{a.description}</small></td>
                        <td><StatusBadge status={a.status} /></td>
                        <td><Time iso={a.first_seen_at} /></td>
                        <td>{a.incident_id ? <Link href={`/incidents/${a.incident_id}`}>open</Link> : "—"}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </QueryView>
          </section>
          <section className="panel" aria-labelledby="pipeline-runs">
            <h2 id="pipeline-runs">Runs</h2>
            <Runs id={id} />
          </section>
        </>
      )}
    </QueryView>
  );
}
