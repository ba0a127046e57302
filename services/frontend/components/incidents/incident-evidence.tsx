"use client";
/** An incident's evidence: each signal grouped by kind, what it is (errors, alerts, log bursts, anomalies,
 * forecasts; groups by their first onset, signals by onset), with the source that sent it, its counts, template
 * or error, anomaly score, the rule and shared host/service/dependency that joined it, and the probable origin
 * marked; operators split a wrongly merged signal into an incident of its own. */
import { useRouter } from "next/navigation";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { useCan } from "@/components/auth/use-can";
import { call, type Schemas } from "@/lib/api/client";
import { invalidateIncident } from "@/components/incidents/incident-queries";
import { QueryView } from "@/components/ui/states";
import { Time } from "@/components/ui/time";

type Evidence = Schemas["EvidenceRead"];

const KIND_TITLES = new Map<string, string>(Object.entries({
  error: "Errors", alert: "Alerts", log: "Log bursts", anomaly: "Anomalies", forecast: "Forecasts",
} satisfies Record<Schemas["SignalKind"], string>));

/** A kind's heading; an older alert's kind is its source's name, shown as it is. */
function kindTitle(kind: string): string {
  return KIND_TITLES.get(kind) ?? kind;
}

/** Signals by kind, in order of each kind's first onset (the rows come ordered by onset). */
function byKind(rows: Evidence[]): [string, Evidence[]][] {
  const groups = new Map<string, Evidence[]>();
  for (const row of rows) groups.set(row.kind, [...(groups.get(row.kind) ?? []), row]);
  return [...groups.entries()];
}

function mergeReason(row: Evidence): string {
  if (row.rule === "opened") return "opened the incident";
  return row.via ? `${row.rule.replaceAll("_", " ")}: ${row.via}` : row.rule.replaceAll("_", " ");
}

function SplitButton({ incidentId, row }: { incidentId: string; row: Evidence }) {
  const api = useApi();
  const router = useRouter();
  const queryClient = useQueryClient();
  const split = useMutation({
    mutationFn: () => call(api.POST("/api/v1/incidents/{incident_id}/split", {
      params: { path: { incident_id: incidentId } }, body: { group_key: row.group_key } })),
    onSuccess: (result) => {
      void invalidateIncident(queryClient, incidentId);
      router.push(`/incidents/${result.new_incident.id}`);
    },
  });
  return (
    <>
      <button onClick={() => split.mutate()} disabled={split.isPending} aria-label={`Split ${row.group_key} out`}>Split out</button>
      {split.error && <span className="error" role="alert">{split.error.message}</span>}
    </>
  );
}

function EvidenceTable({ incidentId, rows }: { incidentId: string; rows: Evidence[] }) {
  const canSplit = useCan("operator") && rows.length > 1;
  return (
    <>
      {byKind(rows).map(([kind, signals]) => (
        <section key={kind} aria-label={`Signals of kind ${kind}`}>
          <h3>{kindTitle(kind)}</h3>
          <table>
            <thead>
              <tr><th>Signal</th><th>Source</th><th>Where</th><th>First seen</th><th>Last seen</th><th>Count</th><th>Score</th>
                <th>Joined by</th>{canSplit && <th><span className="muted">Actions</span></th>}</tr>
            </thead>
            <tbody>
              {signals.map((row) => (
                <tr key={`${row.group_key}\n${row.source}`}>
                  <td>
                    {row.origin && <span className="badge" title="the earliest upstream signal">probable origin</span>}{" "}
                    <code>{row.title}</code>
                  </td>
                  <td>{row.source || "—"}</td>
                  <td>{[row.service, row.host].filter(Boolean).join(" on ") || "—"}</td>
                  <td><Time iso={row.first_seen_at} /></td>
                  <td><Time iso={row.last_seen_at} /></td>
                  <td>{row.count}</td>
                  <td>{row.score == null ? "—" : row.score.toFixed(2)}</td>
                  <td>{mergeReason(row)}</td>
                  {canSplit && <td><SplitButton incidentId={incidentId} row={row} /></td>}
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
    </>
  );
}

export function IncidentEvidence({ incidentId }: { incidentId: string }) {
  const api = useApi();
  const evidence = useQuery({
    queryKey: ["incident-evidence", incidentId],
    queryFn: () => call(api.GET("/api/v1/incidents/{incident_id}/evidence", { params: { path: { incident_id: incidentId } } })),
  });
  return (
    <QueryView query={evidence} what="evidence" isEmpty={(rows) => rows.length === 0} empty="No signals are recorded for this incident.">
      {(rows) => <EvidenceTable incidentId={incidentId} rows={rows} />}
    </QueryView>
  );
}
