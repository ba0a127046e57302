/** The four key metrics of a host, as the fleet endpoint names them and as their series are stored. */
import type { ChartPoint } from "@/lib/charts";

export interface KeyMetric {
  key: "cpu_used_percent" | "mem_used_percent" | "disk_used_percent" | "load1";
  label: string;
  measurement: string;
  field: string;
  unit: string;
  fromIdle?: boolean; // stored as idle %, shown as used %
}

export const KEY_METRICS: KeyMetric[] = [
  { key: "cpu_used_percent", label: "CPU", measurement: "cpu", field: "usage_idle", unit: "%", fromIdle: true },
  { key: "mem_used_percent", label: "Memory", measurement: "mem", field: "used_percent", unit: "%" },
  { key: "disk_used_percent", label: "Disk", measurement: "disk", field: "used_percent", unit: "%" },
  { key: "load1", label: "Load", measurement: "system", field: "load1", unit: "" },
];

export function shown(metric: KeyMetric, points: ChartPoint[]): ChartPoint[] {
  if (!metric.fromIdle) return points;
  return points.map((p) => ({ ...p, value: p.value == null ? null : 100 - p.value }));
}

/** Health from the latest values: critical past 90 %, warning past 75 % (load is not a percentage). */
export function health(values: Partial<Record<KeyMetric["key"], number | null>>): "critical" | "medium" | "low" {
  const worst = Math.max(values.cpu_used_percent ?? 0, values.mem_used_percent ?? 0, values.disk_used_percent ?? 0);
  return worst >= 90 ? "critical" : worst >= 75 ? "medium" : "low";
}
