/** The alerts page's filters: its query key and API query, which rows match them (for live rows), and the start
 * of a relative period. The key holds the period ("1h"), not its start, so that it stays the same as time passes
 * and the loaded pages stay; the start is computed when the pages are read or a live row is matched. */
import type { Schemas } from "@/lib/api/client";
import type { paths } from "@/lib/api/schema";

type Alert = Schemas["AlertRead"];
type AlertsQuery = NonNullable<paths["/api/v1/alerts"]["get"]["parameters"]["query"]>;

export interface AlertFilters {
  severity: string;
  status: string;
  source: string;
  host: string;
  period: string; // 1h, 24h, 7d or empty
}

export const alertsKey = (filters: AlertFilters) => ["alerts", filters] as const;

/** The API query of the first page of alerts matching the filters (`cursor` is added for the next ones). */
export function alertsQuery(f: AlertFilters, now: number = Date.now()): AlertsQuery {
  return {
    severity: f.severity ? [f.severity as Schemas["Severity"]] : undefined,
    status: f.status ? [f.status as Schemas["AlertStatus"]] : undefined,
    source: f.source ? [f.source] : undefined,
    host: f.host || undefined,
    since: periodStart(f.period, now) || undefined,
    limit: 50,
  };
}

export function matches(alert: Alert, f: AlertFilters, now: number = Date.now()): boolean {
  const host = hostName(f.host);
  const since = periodStart(f.period, now);
  return (!f.severity || alert.severity === f.severity)
    && (!f.status || alert.status === f.status)
    && (!f.source || alert.source === f.source)
    && (!host || hostName(alert.host) === host)
    && (!since || Date.parse(alert.last_seen_at) >= Date.parse(since));
}

const IPV4 = /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** The host name the API's host filter compares, as correlation names hosts (`DB-1`, `db-1:9187` and
 * `db-1.prod.example.com` are `db-1`): the twin of aiops_contracts.topology.host_name. Trimmed and lower-cased;
 * IPv6 brackets or a single `:port` dropped; an IP address kept whole (anything with a colon is IPv6), else the
 * name before the first dot; null when nothing is left. */
export function hostName(label: string | null | undefined): string | null {
  let name = (label ?? "").trim().toLowerCase();
  if (name.startsWith("[")) name = name.slice(1).split("]")[0] ?? "";
  else if (name.split(":").length === 2) name = name.split(":")[0] ?? "";
  return (name.includes(":") || IPV4.test(name) ? name : name.split(".")[0]) || null;
}

const UNIT_MS: Record<string, number> = { h: 3_600_000, d: 86_400_000 };

/** `1h`/`24h`/`7d` → the ISO start of that period, rounded down to the minute; empty for any other period. */
export function periodStart(period: string, now: number = Date.now()): string {
  const match = /^(\d+)([hd])$/.exec(period);
  if (!match) return "";
  const start = now - Number(match[1]) * (UNIT_MS[match[2] as string] ?? 0);
  return new Date(Math.floor(start / 60_000) * 60_000).toISOString();
}
