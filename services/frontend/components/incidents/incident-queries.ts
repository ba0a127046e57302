/** The queries that show one incident, in one place: a change to it (an operator's action here or elsewhere, the
 * sweep's resolve, alerts joining, enrichment, a reconnect after missed events) reloads them all. */
import type { QueryClient } from "@tanstack/react-query";

const incidentKeys = (id: string) => [
  ["incident", id], ["incident-logs", id], ["incident-evidence", id], ["incident-alerts", id],
  ["automation-runs", "incident", id], ["incident-anomalies", id], ["incidents"],
];

export async function invalidateIncident(queryClient: QueryClient, id: string): Promise<void> {
  await Promise.all(incidentKeys(id).map((queryKey) => queryClient.invalidateQueries({ queryKey })));
}
