"use client";
/** An incident's automations: its runs with their outcome and time to repair, the incident's own time to
 * repair, and the playbook with the best record on the resolved incidents most like it (the suggestion). */
import { useQuery } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { call } from "@/lib/api/client";
import { QueryView } from "@/components/ui/states";
import { Record, Runs } from "@/components/automations/automations-view";

const duration = (seconds: number) => (seconds < 120 ? `${Math.round(seconds)} s` : `${Math.round(seconds / 60)} min`);

export function IncidentAutomations({ incidentId }: { incidentId: string }) {
  const api = useApi();
  const record = useQuery({
    queryKey: ["automation-runs", "incident", incidentId],
    queryFn: () => call(api.GET("/api/v1/automations/incidents/{incident_id}", { params: { path: { incident_id: incidentId } } })),
  });
  return (
    <section className="panel" aria-labelledby="incident-automations">
      <h2 id="incident-automations">Automations</h2>
      <QueryView query={record} what="automations">
        {(data) => {
          const best = data.suggestions[0];
          return (
            <>
              <p>Time to repair: {data.mttr_s == null ? "not resolved yet" : duration(data.mttr_s)}</p>
              {best ? (
                <p role="note" aria-label="Suggested playbook">
                  Suggested: <code>{best.action}</code> ({best.rule_name}) fixed {best.fixed} of{" "}
                  {best.fixed + best.not_fixed + best.worse} runs on {data.similar_incidents} similar incident(s)
                  {best.mean_mttr_s != null && `, repairing in ${duration(best.mean_mttr_s)} on average`}.
                </p>
              ) : (
                <p className="muted">{data.note || "No playbook has a record on similar incidents yet."}</p>
              )}
              {data.suggestions.length > 1 && <Record stats={data.suggestions} />}
              {data.runs.length > 0 ? <Runs runs={data.runs} /> : <p className="muted">No automation ran on this incident.</p>}
            </>
          );
        }}
      </QueryView>
    </section>
  );
}
