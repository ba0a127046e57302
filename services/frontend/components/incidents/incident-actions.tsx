"use client";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { useCan } from "@/components/auth/use-can";
import { call, type Schemas } from "@/lib/api/client";
import { invalidateIncident } from "@/components/incidents/incident-queries";

type Incident = Schemas["IncidentRead"];
type Action = "acknowledge" | "resolve" | "reopen";

function actionsFor(status: Incident["status"]): Action[] {
  if (status === "open") return ["acknowledge", "resolve"];
  if (status === "acknowledged") return ["resolve"];
  return ["reopen"];
}

/** Acknowledge / resolve / reopen for operators and admins; viewers see none. */
export function IncidentActions({ incident }: { incident: Incident }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const canOperate = useCan("operator");
  const change = useMutation({
    mutationFn: (action: Action) =>
      call(api.POST(`/api/v1/incidents/{incident_id}/${action}`, { params: { path: { incident_id: incident.id } } })),
    onSuccess: (row) => {
      queryClient.setQueryData(["incident", row.id], row);
      void invalidateIncident(queryClient, row.id); // the timeline, the time to repair, the list
    },
  });
  if (!canOperate) return null;
  return (
    <span className="row">
      {actionsFor(incident.status).map((action) => (
        <button key={action} onClick={() => change.mutate(action)} disabled={change.isPending}>
          {action[0]?.toUpperCase() + action.slice(1)}
        </button>
      ))}
      {change.error && <span className="error" role="alert">{change.error.message}</span>}
    </span>
  );
}
