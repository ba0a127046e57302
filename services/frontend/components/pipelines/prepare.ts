/** Pure preparation of the pipeline charts: runs → duration points (epoch ms), anomalies → vertical marks,
 * a stored forecast ([epoch s, value, lower, upper]) → dashed line and band after the history. */
import { withForecast, type ChartPoint } from "@/lib/charts";

export interface RunLike {
  finished_at: string | null;
  features: Record<string, unknown>;
}

export function featurePoints(runs: RunLike[], feature: string): ChartPoint[] {
  return runs
    .filter((r) => r.finished_at != null)
    .map((r) => {
      const value = r.features[feature];
      return { t: Date.parse(r.finished_at as string), value: typeof value === "number" ? value : null };
    })
    .sort((a, b) => a.t - b.t);
}

export function anomalyMarks(anomalies: { first_seen_at: string; kind: string }[]): { t: number; label: string }[] {
  return anomalies.filter((a) => a.kind !== "build_failed").map((a) => ({ t: Date.parse(a.first_seen_at), label: a.kind }));
}

/** Daily means of the history, then the forecast (`ts` in epoch seconds). */
export function forecastPoints(
  history: ChartPoint[],
  forecast: { ts: number; value: number; lower: number; upper: number }[],
): ChartPoint[] {
  const days = new Map<number, number[]>();
  for (const p of history) {
    if (p.value == null) continue;
    const day = Math.floor(p.t / 86_400_000) * 86_400_000 + 43_200_000;
    days.set(day, [...(days.get(day) ?? []), p.value]);
  }
  const daily = [...days.entries()].map(([t, vs]) => ({ t, value: vs.reduce((a, b) => a + b, 0) / vs.length }));
  const future = forecast.map((p) => ({ time: new Date(p.ts * 1000).toISOString(), value: p.value, lower: p.lower, upper: p.upper }));
  return withForecast(daily, future);
}

export const GRADE_SEVERITY: Record<string, string> = { A: "low", B: "low", C: "medium", D: "high", F: "critical" };

/** A run's address from the CI, when it is a web page (http or https): anything else is not made a link. */
export function webUrl(url: string | null): string | null {
  return url && /^https?:\/\//i.test(url) ? url : null;
}
