import { describe, expect, it } from "vitest";
import { anomalyMarkers, countPoints, seriesPoints, windowAround, windowFor, withForecast } from "@/lib/charts";
import { safeNext } from "@/lib/auth/redirect";

describe("chart preparation", () => {
  it("puts series on a numeric time axis, sorted, keeping gaps as null", () => {
    const points = seriesPoints([{ time: "2026-01-01T00:01:00Z", value: null }, { time: "2026-01-01T00:00:00Z", value: 2 }]);
    expect(points).toEqual([{ t: Date.parse("2026-01-01T00:00:00Z"), value: 2 }, { t: Date.parse("2026-01-01T00:01:00Z"), value: null }]);
    expect(countPoints([{ bucket_start: "2026-01-01T00:00:00Z", count: 3 }])[0]?.value).toBe(3);
  });

  it("joins the forecast to the last observed point and carries its band", () => {
    const history = seriesPoints([{ time: "2026-01-01T00:00:00Z", value: 1 }, { time: "2026-01-01T00:01:00Z", value: 2 }]);
    const merged = withForecast(history, [{ time: "2026-01-01T00:02:00Z", value: 3, lower: 2.5, upper: 3.5 }]);
    expect(merged.map((p) => [p.value ?? null, p.forecast ?? null, p.band ?? null])).toEqual([
      [1, null, null], [2, 2, [2, 2]], [null, 3, [2.5, 3.5]],
    ]);
  });

  it("marks only anomalies that have a value", () => {
    const marks = anomalyMarkers([
      { time: "2026-01-01T00:00:00Z", value: 9, score: 0.91, severity: "high" },
      { time: "2026-01-01T00:01:00Z", value: null, score: 0.5, severity: null },
    ]);
    expect(marks).toEqual([{ t: Date.parse("2026-01-01T00:00:00Z"), value: 9, label: "high (score 0.91)" }]);
  });

  it("pads an incident window and picks whole-minute aggregation windows", () => {
    const { start, end } = windowAround("2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z");
    expect(start.toISOString()).toBe("2026-01-01T09:30:00.000Z");
    expect(end.getTime()).toBe(Date.parse("2026-01-01T10:31:00Z"));
    expect(windowFor(new Date(0), new Date(86_400_000), 144)).toBe("10m");
    expect(windowFor(new Date(0), new Date(60_000))).toBe("1m");
  });

  it("ends an open incident's window at the next whole minute, the same all through that minute", () => {
    const window = (now: string) => windowAround("2026-01-01T10:00:00Z", "2026-01-01T10:20:00Z", 30 * 60_000, Date.parse(now));
    expect(window("2026-01-01T10:20:00.001Z").end.toISOString()).toBe("2026-01-01T10:21:00.000Z");
    expect(window("2026-01-01T10:20:59.999Z")).toEqual(window("2026-01-01T10:20:00.001Z"));
  });
});

describe("safeNext", () => {
  it("accepts only paths on this site", () => {
    expect(safeNext("/alerts?severity=high")).toBe("/alerts?severity=high");
    expect(safeNext("//evil.example")).toBe("/");
    expect(safeNext("/\\evil.example")).toBe("/");
    expect(safeNext("https://evil.example")).toBe("/");
    expect(safeNext(null)).toBe("/");
  });
});
