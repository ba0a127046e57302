import { describe, expect, it } from "vitest";
import { mergeAlerts } from "@/components/alerts/merge";
import { alertsKey, alertsQuery, hostName, periodStart } from "@/components/alerts/filters";
import { alert, NONE } from "./alert-fixtures";

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

  it("takes in the alerts of the filtered host under any of its labels, as the API's host filter does", () => {
    const db1 = { ...NONE, host: "DB-1.prod.example.com" };
    const rows = ["db-1.prod.example.com", "DB-1", "db-1:9187", "db-10", "db-2"].map(
      (host, i) => alert(`n${i}`, `2026-01-01T00:0${i + 3}:00Z`, { host }));
    expect(mergeAlerts(pages, rows, db1)[0]?.items.map((a) => a.id)).toEqual(["n2", "n1", "n0", "b", "a"]);
  });

  it("takes in only the live alerts of the period, counted back from now", () => {
    const lastHour = { ...NONE, period: "1h" };
    const rows = [alert("old", "2026-01-01T00:30:00Z"), alert("new", "2026-01-01T01:10:00Z")];
    expect(mergeAlerts(pages, rows, lastHour, Date.parse("2026-01-01T01:40:00Z"))[0]?.items.map((a) => a.id))
      .toEqual(["new", "b", "a"]);
  });

  it("leaves an empty list alone (nothing loaded yet)", () => {
    expect(mergeAlerts([], [alert("c", "2026-01-01T00:03:00Z")], NONE)).toEqual([]);
  });
});

describe("hostName", () => {
  it("names hosts as aiops_contracts.topology.host_name does", () => {
    const cases: [string | null, string | null][] = [
      ["db-1.prod.example.com", "db-1"], ["DB-1", "db-1"], [" db-1:9187 ", "db-1"], ["DB-1.Example.Internal.", "db-1"],
      ["[fe80::1]:9100", "fe80::1"], ["fe80::1", "fe80::1"], ["10.0.0.1:22", "10.0.0.1"], ["10.0.0.300", "10"],
      ["01.2.3.4", "01"], ["1.2.3", "1"], ["[db-3]", "db-3"], ["db-4:", "db-4"], [".hidden", null], [" ", null],
      ["", null], [null, null],
    ];
    expect(cases.map(([label]) => hostName(label))).toEqual(cases.map(([, name]) => name));
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

describe("alertsKey and alertsQuery", () => {
  it("key the alerts on the period, and turn it into a start only when the pages are read", () => {
    const lastHour = { ...NONE, severity: "high", period: "1h" };
    expect(alertsKey(lastHour)).toEqual(["alerts", lastHour]); // the same a minute later: loaded pages stay
    expect(alertsQuery(lastHour, Date.parse("2026-01-02T12:30:45Z"))).toEqual({
      severity: ["high"], status: undefined, source: undefined, host: undefined, since: "2026-01-02T11:30:00.000Z",
      limit: 50,
    });
    expect(alertsQuery(NONE).since).toBeUndefined();
  });
});
