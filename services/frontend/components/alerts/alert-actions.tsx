"use client";
import { useMutation } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { useCan } from "@/components/auth/use-can";
import { call, type Schemas } from "@/lib/api/client";

type Alert = Schemas["AlertRead"];

/** Acknowledge / resolve for operators and admins; viewers see no buttons. `onChanged` gets the stored row. */
export function AlertActions({ alert, onChanged }: { alert: Alert; onChanged: (row: Alert) => void }) {
  const api = useApi();
  const canOperate = useCan("operator");
  const change = useMutation({
    mutationFn: (action: "acknowledge" | "resolve") =>
      call(api.POST(`/api/v1/alerts/{alert_id}/${action}`, { params: { path: { alert_id: alert.id } } })),
    onSuccess: onChanged,
  });
  if (!canOperate) return null;
  return (
    <span className="row" style={{ flexWrap: "nowrap" }}>
      {alert.status === "firing" && (
        <button onClick={() => change.mutate("acknowledge")} disabled={change.isPending}
          aria-label={`Acknowledge ${alert.title}`}>Acknowledge</button>
      )}
      {alert.status !== "resolved" && (
        <button onClick={() => change.mutate("resolve")} disabled={change.isPending}
          aria-label={`Resolve ${alert.title}`}>Resolve</button>
      )}
      {change.error && <span className="error" role="alert">{change.error.message}</span>}
    </span>
  );
}
