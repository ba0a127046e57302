"use client";
/** The metric around an incident: the series its strongest anomaly is on (else the first host's load), over
 * the incident window with padding, the window shaded and the anomalies marked. */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { call, type Schemas } from "@/lib/api/client";
import { anomalyMarkers, seriesPoints, windowAround, windowFor } from "@/lib/charts";
import { QueryView } from "@/components/ui/states";
import { TimeChart } from "@/components/ui/time-chart";

type Incident = Schemas["IncidentRead"];
type Anomaly = Schemas["AnomalyPointRead"];

function useWindowAnomalies(incident: Incident, start: Date, end: Date) {
  const api = useApi();
  const host = incident.hosts[0];
  return useQuery({
    queryKey: ["incident-anomalies", incident.id, host, start.toISOString(), end.toISOString()],
    placeholderData: keepPreviousData, // the window moved (a minute passed, the incident changed): keep the chart
    enabled: !!host,
    queryFn: () => call(api.GET("/api/v1/anomalies", { params: { query: {
      host, start: start.toISOString(), end: end.toISOString(),
    } } })),
  });
}

function strongest(items: Anomaly[]): Anomaly | undefined {
  return [...items].sort((a, b) => b.score - a.score)[0];
}

function MetricChart({ incident, anomalies, start, end }: { incident: Incident; anomalies: Anomaly[]; start: Date; end: Date }) {
  const api = useApi();
  const top = strongest(anomalies);
  const host = top?.host ?? (incident.hosts[0] as string);
  const measurement = top?.measurement ?? "system";
  const field = top?.field ?? "load1";
  const series = useQuery({
    queryKey: ["series", host, measurement, field, start.toISOString(), end.toISOString()],
    placeholderData: keepPreviousData,
    queryFn: () => call(api.GET("/api/v1/metrics/series", { params: { query: {
      host, measurement, field, start: start.toISOString(), end: end.toISOString(), window: windowFor(start, end),
    } } })),
  });
  const related = anomalies.filter((a) => a.measurement === measurement && a.field === field);
  return (
    <>
      <p className="muted">{host} · {measurement}.{field} · {related.length} anomal{related.length === 1 ? "y" : "ies"} in the window</p>
      <QueryView query={series} what="the metric" isEmpty={(s) => s.points.length === 0}
        empty={`No ${measurement}.${field} data for ${host} around this incident.`}>
        {(s) => (
          <TimeChart data={seriesPoints(s.points)} label={`${measurement}.${field} on ${host} around the incident`}
            markers={anomalyMarkers(related)}
            window={{ from: Date.parse(incident.first_seen_at), to: Math.max(Date.parse(incident.last_seen_at), Date.parse(incident.first_seen_at) + 60_000) }} />
        )}
      </QueryView>
    </>
  );
}

export function IncidentMetric({ incident }: { incident: Incident }) {
  const { start, end } = windowAround(incident.first_seen_at, incident.resolved_at ?? incident.last_seen_at);
  const anomalies = useWindowAnomalies(incident, start, end);
  return (
    <section className="panel" aria-labelledby="metric">
      <h2 id="metric">Metric and anomalies</h2>
      {incident.hosts.length === 0 ? <p className="muted">This incident names no host, so there is no metric to show.</p> : (
        <QueryView query={anomalies} what="anomalies">
          {(data) => <MetricChart incident={incident} anomalies={data.items} start={start} end={end} />}
        </QueryView>
      )}
    </section>
  );
}
