"use client";
/** One incident's story: its state and actions, the evidence of each signal (by kind, origin marked, merge
 * reasons), timeline, alerts, log templates with sample lines, and the metric around its window with the
 * related anomalies; its automations (runs, time to repair, the suggested playbook). */
import Link from "next/link";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { ApiError, call, type Schemas } from "@/lib/api/client";
import { AlertTable } from "@/components/alerts/alert-table";
import { IncidentAutomations } from "@/components/automations/incident-automations";
import { IncidentActions } from "@/components/incidents/incident-actions";
import { IncidentEvidence } from "@/components/incidents/incident-evidence";
import { IncidentExplanation } from "@/components/incidents/incident-explanation";
import { IncidentMetric } from "@/components/incidents/incident-metric";
import { SeverityBadge, StatusBadge } from "@/components/ui/badges";
import { Empty, QueryView } from "@/components/ui/states";
import { Time } from "@/components/ui/time";
import { useLiveRefresh } from "@/lib/live";
import { invalidateIncident } from "@/components/incidents/incident-queries";

type Incident = Schemas["IncidentRead"];

function Timeline({ entries }: { entries: Schemas["TimelineEntry"][] }) {
  if (entries.length === 0) return <p className="muted">Nothing on the timeline yet.</p>;
  return (
    <ol className="timeline" aria-label="Timeline">
      {entries.map((e, i) => (
        <li key={`${e.at}-${i}`}>
          <Time iso={e.at} /> <span className="badge">{e.kind}</span> {e.message}
          {e.host && <span className="muted"> · {e.host}</span>}
          {e.count > 1 && <span className="muted"> · ×{e.count}</span>}
        </li>
      ))}
    </ol>
  );
}

function Templates({ logs }: { logs: Schemas["IncidentLogs"] }) {
  if (logs.templates.length === 0) return <p className="muted">No log templates are linked to this incident.</p>;
  return (
    <ul style={{ paddingLeft: "1rem" }}>
      {logs.templates.map((t) => (
        <li key={t.id}>
          <SeverityBadge severity={t.severity} /> <code>{t.template}</code> <span className="muted">×{t.count}</span>
          <pre>{t.sample}</pre>
        </li>
      ))}
    </ul>
  );
}

function IncidentAlerts({ incident }: { incident: Incident }) {
  const api = useApi();
  const alerts = useQuery({
    queryKey: ["incident-alerts", incident.id],
    queryFn: () => call(api.GET("/api/v1/incidents/{incident_id}/alerts", { params: { path: { incident_id: incident.id }, query: { limit: 100 } } })),
  });
  return (
    <QueryView query={alerts} what="alerts" isEmpty={(d) => d.items.length === 0} empty="No alerts are linked to this incident.">
      {(data) => <AlertTable alerts={data.items} onChanged={() => void alerts.refetch()} />}
    </QueryView>
  );
}

function Story({ incident }: { incident: Incident }) {
  const api = useApi();
  const logs = useQuery({
    queryKey: ["incident-logs", incident.id],
    queryFn: () => call(api.GET("/api/v1/incidents/{incident_id}/logs", { params: { path: { incident_id: incident.id } } })),
  });
  return (
    <>
      <div className="spread">
        <h1><SeverityBadge severity={incident.severity} /> {incident.title}</h1>
        <IncidentActions incident={incident} />
      </div>
      <p>
        <StatusBadge status={incident.status} /> · first seen <Time iso={incident.first_seen_at} /> · last seen{" "}
        <Time iso={incident.last_seen_at} /> · {incident.event_count} events · hosts{" "}
        {incident.hosts.map((h) => <Link key={h} href={`/fleet/${encodeURIComponent(h)}`}>{h} </Link>)}
      </p>
      <IncidentExplanation incident={incident} />
      <section className="panel" aria-labelledby="evidence">
        <h2 id="evidence">Evidence</h2>
        <IncidentEvidence incidentId={incident.id} />
      </section>
      <IncidentMetric incident={incident} />
      <div className="grid">
        <section className="panel" aria-labelledby="timeline">
          <h2 id="timeline">Timeline</h2>
          <QueryView query={logs} what="the timeline">{(data) => <Timeline entries={data.timeline} />}</QueryView>
        </section>
        <section className="panel" aria-labelledby="templates">
          <h2 id="templates">Log templates</h2>
          <QueryView query={logs} what="log templates">{(data) => <Templates logs={data} />}</QueryView>
        </section>
      </div>
      <section className="panel" aria-labelledby="alerts">
        <h2 id="alerts">Alerts</h2>
        <IncidentAlerts incident={incident} />
      </section>
      <IncidentAutomations incidentId={incident.id} />
    </>
  );
}

export function IncidentDetail({ id }: { id: string }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const incident = useQuery({
    queryKey: ["incident", id],
    queryFn: () => call(api.GET("/api/v1/incidents/{incident_id}", { params: { path: { incident_id: id } } })),
  });
  // Follow the incident: enrichment, another operator's action, the sweep's resolve, alerts joining.
  useLiveRefresh((event) => event.type.startsWith("incident.") && event.payload.incident_id === id,
    () => void invalidateIncident(queryClient, id), 300);
  if (incident.error instanceof ApiError && (incident.error.status === 404 || incident.error.status === 422)) {
    return <Empty>Incident {id} does not exist. <Link href="/incidents">All incidents</Link></Empty>;
  }
  return <QueryView query={incident} what="the incident">{(data) => <Story incident={data} />}</QueryView>;
}
