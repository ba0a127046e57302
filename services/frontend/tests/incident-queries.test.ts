import { describe, expect, it } from "vitest";
import { QueryClient } from "@tanstack/react-query";
import { invalidateIncident } from "@/components/incidents/incident-queries";

describe("invalidateIncident", () => {
  it("marks every query that shows the incident stale, and no other incident's", async () => {
    const client = new QueryClient();
    const shown = [["incident", "i1"], ["incident-logs", "i1"], ["incident-evidence", "i1"], ["incident-alerts", "i1"],
      ["automation-runs", "incident", "i1"], ["incident-anomalies", "i1", "web-1", "2026-01-01T00:00:00.000Z"],
      ["incidents", { status: "" }]];
    const other = [["incident", "i2"], ["automation-runs", "incident", "i2"]];
    [...shown, ...other].forEach((key) => client.setQueryData(key, {}));
    await invalidateIncident(client, "i1");
    const stale = (key: unknown[]) => client.getQueryState(key)?.isInvalidated;
    expect(shown.map(stale)).toEqual(shown.map(() => true));
    expect(other.map(stale)).toEqual(other.map(() => false));
  });
});
