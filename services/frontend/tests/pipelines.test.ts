import { describe, expect, it } from "vitest";
import { anomalyMarks, featurePoints, forecastPoints, webUrl } from "@/components/pipelines/prepare";

const runs = [
  { finished_at: "2026-11-02T10:00:00Z", features: { duration_s: 300 } },
  { finished_at: "2026-11-01T10:00:00Z", features: { duration_s: 100 } },
  { finished_at: "2026-11-01T14:00:00Z", features: { duration_s: 200 } },
  { finished_at: null, features: { duration_s: 999 } },
  { finished_at: "2026-11-02T12:00:00Z", features: {} },
];

describe("pipeline chart preparation", () => {
  it("puts finished runs on a time axis, a missing feature as a gap", () => {
    const points = featurePoints(runs, "duration_s");
    expect(points.map((p) => p.value)).toEqual([100, 200, 300, null]);
    expect(points[0]?.t).toBe(Date.parse("2026-11-01T10:00:00Z"));
  });

  it("marks anomalies but not failed builds", () => {
    const marks = anomalyMarks([{ first_seen_at: "2026-11-02T10:00:00Z", kind: "slow_build" },
      { first_seen_at: "2026-11-02T11:00:00Z", kind: "build_failed" }]);
    expect(marks).toEqual([{ t: Date.parse("2026-11-02T10:00:00Z"), label: "slow_build" }]);
  });

  it("averages the history per day, then joins the forecast with its band", () => {
    const day3 = Date.parse("2026-11-03T12:00:00Z") / 1000;
    const points = forecastPoints(featurePoints(runs, "duration_s"), [{ ts: day3, value: 320, lower: 280, upper: 360 }]);
    expect(points.filter((p) => p.value != null && p.forecast == null).map((p) => p.value)).toEqual([150]);
    const joint = points.find((p) => p.value === 300);
    expect(joint?.forecast).toBe(300);
    expect(points[points.length - 1]).toMatchObject({ t: day3 * 1000, forecast: 320, band: [280, 360] });
  });

  it("links a run only to an http(s) address from the CI", () => {
    expect(webUrl("https://ci.example.com/runs/7")).toBe("https://ci.example.com/runs/7");
    expect(webUrl("HTTP://ci.example.com/runs/7")).toBe("HTTP://ci.example.com/runs/7");
    for (const url of ["javascript:alert(1)", " javascript:alert(1)", "data:text/html,x", "//evil.example", "runs/7", null]) {
      expect(webUrl(url)).toBeNull();
    }
  });
});
