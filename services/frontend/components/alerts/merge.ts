/** Live upsert of alert rows into the pages already shown: rows matching the filters replace their old copy
 * (or join the first page), rows that stopped matching leave, and order stays newest first. Pure. */
import type { Schemas } from "@/lib/api/client";
import { matches, type AlertFilters } from "@/components/alerts/filters";

type Alert = Schemas["AlertRead"];
type AlertPage = Schemas["AlertPage"];

export const newestFirst = (a: Alert, b: Alert): number =>
  Date.parse(b.last_seen_at) - Date.parse(a.last_seen_at) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

export function mergeAlerts(pages: AlertPage[], rows: Alert[], filters: AlertFilters, now: number = Date.now()): AlertPage[] {
  if (pages.length === 0) return pages;
  const fresh = new Map(rows.map((row) => [row.id, row]));
  const kept = pages.map((p) => ({ ...p, items: p.items.filter((a) => !fresh.has(a.id)) }));
  const [first, ...rest] = kept as [AlertPage, ...AlertPage[]];
  const added = rows.filter((row) => matches(row, filters, now));
  return [{ ...first, items: [...added, ...first.items].sort(newestFirst) }, ...rest];
}
