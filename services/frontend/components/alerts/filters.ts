/** The alerts page's filters: which rows match them (for live rows), and the start of a relative period. */
import type { Schemas } from "@/lib/api/client";

type Alert = Schemas["AlertRead"];

export interface AlertFilters {
  severity: string;
  status: string;
  source: string;
  host: string;
  since: string; // ISO or empty
}

export function matches(alert: Alert, f: AlertFilters): boolean {
  return (!f.severity || alert.severity === f.severity)
    && (!f.status || alert.status === f.status)
    && (!f.source || alert.source === f.source)
    && (!f.host || alert.host === f.host)
    && (!f.since || Date.parse(alert.last_seen_at) >= Date.parse(f.since));
}

const UNIT_MS: Record<string, number> = { h: 3_600_000, d: 86_400_000 };

/** `1h`/`24h`/`7d` → the ISO start of that period (rounded to the minute so the query key stays stable). */
export function periodStart(period: string, now: number = Date.now()): string {
  const match = /^(\d+)([hd])$/.exec(period);
  if (!match) return "";
  const start = now - Number(match[1]) * (UNIT_MS[match[2] as string] ?? 0);
  return new Date(Math.floor(start / 60_000) * 60_000).toISOString();
}
