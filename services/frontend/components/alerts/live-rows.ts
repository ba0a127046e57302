/** Live alert rows into the cached pages of the alerts page, without letting an older answer hide a newer one.
 * Announced ids are read one by one, batched every 100 ms (a burst reloads the pages instead). While the pages are
 * being read (first load, reload, "Load more") the ids wait: a row written into the cache then would be replaced
 * by pages read before it was stored. A row read before the latest page read began is read again, and of two
 * reads of one row the one started last wins. Reads are ordered by a counter shared with the page reads. Which
 * copy of a row is shown is remembered until the pages are read again (every read that may still be applied began
 * after that), and past SHOWN_MAX rows the pages are read again, so that memory stays bounded on a page left open. */
import type { InfiniteData, QueryClient } from "@tanstack/react-query";
import type { Schemas } from "@/lib/api/client";
import { alertsKey, type AlertFilters } from "@/components/alerts/filters";
import { mergeAlerts } from "@/components/alerts/merge";

type Alert = Schemas["AlertRead"];
type Pages = InfiniteData<Schemas["AlertPage"], string | null>;
const BURST = 20; // more ids than this in one batch: reload the pages instead of reading rows one by one
const BATCH_MS = 100;
export const SHOWN_MAX = 1_000; // rows whose shown copy is remembered; past it the pages are read again

export interface LiveRowsOptions {
  queryClient: QueryClient;
  filters: AlertFilters;
  read: (id: string) => Promise<Alert>;
}

export class LiveAlertRows {
  private pending = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private reads = 0; // counts page and row reads as they begin
  private pagesReadAt = 0; // the count when the latest page read began
  private shownAt = new Map<string, number>(); // alert id → the count when the copy shown was read

  constructor(private readonly options: LiveRowsOptions) {}

  private get key() {
    return alertsKey(this.options.filters);
  }

  /** Called as each page read begins (by the query function). */
  pagesRead(): void {
    this.pagesReadAt = ++this.reads;
    this.shownAt.clear(); // a read of a row begun before this is not applied, one begun after is newer than these
  }

  announce(id: string): void {
    this.pending.add(id);
    this.timer ??= setTimeout(() => void this.flush(), BATCH_MS);
  }

  /** Rows the page itself changed (an acknowledgement's answer). */
  show(rows: Alert[]): void {
    this.apply(rows, ++this.reads);
  }

  /** Reloads every loaded page (a burst, a reconnect, resuming live); the ids announced meanwhile wait for it. */
  reload(): Promise<void> {
    return this.options.queryClient.invalidateQueries({ queryKey: this.key, exact: true });
  }

  stop(): void {
    clearTimeout(this.timer);
    this.pending.clear();
  }

  private pagesLoading(): boolean {
    return this.options.queryClient.isFetching({ queryKey: this.key, exact: true }) > 0;
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    if (this.pending.size === 0) return;
    if (this.pagesLoading()) {
      this.timer = setTimeout(() => void this.flush(), BATCH_MS);
      return;
    }
    const ids = [...this.pending];
    this.pending.clear();
    if (ids.length > BURST) return this.reload();
    const readAt = ++this.reads;
    let rows: Alert[];
    try {
      rows = await Promise.all(ids.map((id) => this.options.read(id)));
    } catch {
      return this.reload(); // a row that cannot be read: reload the pages instead
    }
    this.apply(rows, readAt);
  }

  private apply(rows: Alert[], readAt: number): void {
    if (this.pagesLoading() || this.pagesReadAt > readAt) {
      rows.forEach((row) => this.announce(row.id)); // the pages may hold a newer copy, or will replace this one
      return;
    }
    const newer = rows.filter((row) => (this.shownAt.get(row.id) ?? 0) < readAt);
    newer.forEach((row) => this.shownAt.set(row.id, readAt));
    this.options.queryClient.setQueryData<Pages>(this.key,
      (data) => data && { ...data, pages: mergeAlerts(data.pages, newer, this.options.filters) });
    if (this.shownAt.size > SHOWN_MAX) void this.reload();
  }
}
