import { describe, expect, it } from "vitest";
import type { Schemas } from "@/lib/api/client";
import { mergeAlerts } from "@/components/alerts/merge";
import { periodStart, type AlertFilters } from "@/components/alerts/filters";

type Alert = Schemas["AlertRead"];
const NONE: AlertFilters = { severity: "", status: "", source: "", host: "", since: "" };

function alert(id: string, lastSeen: string, extra: Partial<Alert> = {}): Alert {
  return {
    id, title: id, last_seen_at: lastSeen, first_seen_at: lastSeen, severity: "high", status: "firing", source: "s",
    host: "h", service: null, count: 1, incident_id: null, fingerprint: id, description: "", labels: {},
    annotations: {}, details: {}, url: null, resolved_at: null, ...extra,
  };
}

describe("mergeAlerts", () => {
  const pages = [
    { items: [alert("b", "2026-01-01T00:02:00Z"), alert("a", "2026-01-01T00:01:00Z")], next_cursor: "c1" },
    { items: [alert("z", "2026-01-01T00:00:00Z")], next_cursor: null },
  ];

  it("adds a new alert at the top of the first page", () => {
    const merged = mergeAlerts(pages, [alert("c", "2026-01-01T00:03:00Z")], NONE);
    expect(merged[0]?.items.map((a) => a.id)).toEqual(["c", "b", "a"]);
    expect(merged[1]).toEqual(pages[1]);
  });

  it("updates a changed alert in place of its old copy, even from a later page", () => {
    const merged = mergeAlerts(pages, [alert("z", "2026-01-01T00:04:00Z", { count: 5 })], NONE);
    expect(merged[0]?.items.map((a) => [a.id, a.count])).toEqual([["z", 5], ["b", 1], ["a", 1]]);
    expect(merged[1]?.items).toEqual([]);
  });

  it("drops an alert that no longer matches the filters", () => {
    const firing = { ...NONE, status: "firing" };
    const merged = mergeAlerts(pages, [alert("b", "2026-01-01T00:05:00Z", { status: "acknowledged" })], firing);
    expect(merged[0]?.items.map((a) => a.id)).toEqual(["a"]);
  });

  it("leaves an empty list alone (nothing loaded yet)", () => {
    expect(mergeAlerts([], [alert("c", "2026-01-01T00:03:00Z")], NONE)).toEqual([]);
  });
});

describe("periodStart", () => {
  it("turns a relative period into its start, whole minutes", () => {
    const now = Date.parse("2026-01-02T12:30:45Z");
    expect(periodStart("1h", now)).toBe("2026-01-02T11:30:00.000Z");
    expect(periodStart("7d", now)).toBe("2025-12-26T12:30:00.000Z");
    expect(periodStart("", now)).toBe("");
    expect(periodStart("5x", now)).toBe("");
  });
});
