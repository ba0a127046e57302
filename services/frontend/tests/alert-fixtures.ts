import type { Schemas } from "@/lib/api/client";
import type { AlertFilters } from "@/components/alerts/filters";

export type Alert = Schemas["AlertRead"];
export const NONE: AlertFilters = { severity: "", status: "", source: "", host: "", period: "" };

/** An alert as the API lists it, named and timed by the test. */
export function alert(id: string, lastSeen: string, extra: Partial<Alert> = {}): Alert {
  return {
    id, title: id, last_seen_at: lastSeen, first_seen_at: lastSeen, severity: "high", status: "firing", source: "s",
    host: "h", service: null, count: 1, incident_id: null, fingerprint: id, description: "", labels: {},
    annotations: {}, details: {}, url: null, resolved_at: null, ...extra,
  };
}
