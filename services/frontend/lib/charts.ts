/** Pure chart preparation: API series → points on a numeric time axis (epoch ms). Null stays null so the
 * chart draws a gap; forecasts carry their confidence band as [lower, upper]. Renderers only draw these. */

export interface ChartPoint {
  t: number;
  value?: number | null;
  forecast?: number | null;
  band?: [number, number] | null;
}

export interface Marker {
  t: number;
  value: number;
  label: string;
}

const byTime = (a: ChartPoint, b: ChartPoint) => a.t - b.t;

export function seriesPoints(points: { time: string; value: number | null }[]): ChartPoint[] {
  return points.map((p) => ({ t: Date.parse(p.time), value: p.value })).sort(byTime);
}

export function countPoints(buckets: { bucket_start: string; count: number }[]): ChartPoint[] {
  return buckets.map((b) => ({ t: Date.parse(b.bucket_start), value: b.count })).sort(byTime);
}

/** History then forecast on one axis; the forecast starts at the last observed point so the lines join. */
export function withForecast(
  history: ChartPoint[],
  forecast: { time: string; value: number; lower: number; upper: number }[],
): ChartPoint[] {
  const future = forecast.map((p) => ({ t: Date.parse(p.time), forecast: p.value, band: [p.lower, p.upper] as [number, number] }));
  const last = [...history].reverse().find((p) => p.value != null);
  const joint = last ? [{ ...last, forecast: last.value, band: [last.value, last.value] as [number, number] }] : [];
  const past = last ? history.filter((p) => p !== last) : history;
  return [...past, ...joint, ...future].sort(byTime);
}

export function anomalyMarkers(
  anomalies: { time: string; value: number | null; score: number; severity: string | null }[],
): Marker[] {
  return anomalies
    .filter((a) => a.value != null)
    .map((a) => ({ t: Date.parse(a.time), value: a.value as number, label: `${a.severity ?? "anomaly"} (score ${a.score.toFixed(2)})` }));
}

/** A window around [from, to] for showing a metric around an incident: `pad` of the span on each side, ending
 * no later than now rounded up to the whole minute (so that it, and the queries keyed on it, stay the same
 * through each minute of an open incident). */
export function windowAround(fromIso: string, toIso: string, minPadMs = 30 * 60_000, now: number = Date.now()): { start: Date; end: Date } {
  const from = Date.parse(fromIso);
  const to = Math.max(Date.parse(toIso), from + 60_000);
  const pad = Math.max(minPadMs, (to - from) / 2);
  return { start: new Date(from - pad), end: new Date(Math.min(to + pad, Math.ceil(now / 60_000) * 60_000)) };
}

/** The aggregation window that keeps a range at about `points` points (whole minutes, at least 1m). */
export function windowFor(start: Date, end: Date, points = 120): string {
  const minutes = Math.max(1, Math.ceil((end.getTime() - start.getTime()) / 60_000 / points));
  return `${minutes}m`;
}

export function formatTick(t: number, spanMs: number): string {
  const d = new Date(t);
  if (spanMs > 2 * 86_400_000) return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
  return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}
