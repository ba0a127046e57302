import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { InfiniteQueryObserver, QueryClient, type InfiniteData } from "@tanstack/react-query";
import type { Schemas } from "@/lib/api/client";
import { alertsKey } from "@/components/alerts/filters";
import { alert, NONE, type Alert } from "./alert-fixtures";
import { LiveAlertRows, SHOWN_MAX } from "@/components/alerts/live-rows";

type Page = Schemas["AlertPage"];

/** An answer the test gives when it chooses, to put API answers in any order. */
function later<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe("LiveAlertRows", () => {
  let client: QueryClient;
  let pageAnswers: ReturnType<typeof later<Page>>[];
  let reads: { id: string; answer: ReturnType<typeof later<Alert>> }[];
  let rows: LiveAlertRows;
  let stopObserving: () => void;

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    client = new QueryClient();
    pageAnswers = [];
    reads = [];
    rows = new LiveAlertRows({
      queryClient: client, filters: NONE,
      read: (id) => {
        const answer = later<Alert>();
        reads.push({ id, answer });
        return answer.promise;
      },
    });
    const observer = new InfiniteQueryObserver(client, {
      queryKey: alertsKey(NONE),
      queryFn: () => {
        rows.pagesRead();
        const answer = later<Page>();
        pageAnswers.push(answer);
        return answer.promise;
      },
      initialPageParam: null as string | null,
      getNextPageParam: (last: Page) => last.next_cursor,
    });
    stopObserving = observer.subscribe(() => undefined); // the page shows the alerts: the query is active
  });
  afterEach(() => {
    stopObserving();
    rows.stop();
    client.clear();
    vi.useRealTimers();
  });

  const shown = () =>
    client.getQueryData<InfiniteData<Page>>(alertsKey(NONE))?.pages.flatMap((p) => p.items.map((a) => [a.id, a.count]));

  it("shows an alert announced while the first page loads, once the page has loaded", async () => {
    rows.announce("c");
    await vi.advanceTimersByTimeAsync(300);
    expect(reads).toHaveLength(0); // the page is still being read: the row waits for it
    pageAnswers[0]?.resolve({ items: [alert("b", "2026-01-01T00:02:00Z")], next_cursor: null });
    await vi.advanceTimersByTimeAsync(100);
    reads[0]?.answer.resolve(alert("c", "2026-01-01T00:03:00Z"));
    await vi.waitFor(() => expect(shown()).toEqual([["c", 1], ["b", 1]]));
  });

  it("reads a row again when the pages were reloaded while it was read, so the older pages do not hide it", async () => {
    pageAnswers[0]?.resolve({ items: [alert("b", "2026-01-01T00:02:00Z")], next_cursor: null });
    await vi.waitFor(() => expect(shown()).toEqual([["b", 1]]));
    rows.announce("c");
    await vi.advanceTimersByTimeAsync(100);
    expect(reads.map((r) => r.id)).toEqual(["c"]);
    void rows.reload(); // a reconnect or a burst reloads the pages
    reads[0]?.answer.resolve(alert("c", "2026-01-01T00:03:00Z"));
    pageAnswers[1]?.resolve({ items: [alert("b", "2026-01-01T00:02:00Z")], next_cursor: null }); // read before c was stored
    await vi.advanceTimersByTimeAsync(100);
    expect(reads.map((r) => r.id)).toEqual(["c", "c"]);
    reads[1]?.answer.resolve(alert("c", "2026-01-01T00:03:00Z"));
    await vi.waitFor(() => expect(shown()).toEqual([["c", 1], ["b", 1]]));
  });

  it("keeps the newer copy of a row when two reads of it answer out of order", async () => {
    pageAnswers[0]?.resolve({ items: [], next_cursor: null });
    await vi.waitFor(() => expect(shown()).toEqual([]));
    rows.announce("c");
    await vi.advanceTimersByTimeAsync(100);
    rows.announce("c");
    await vi.advanceTimersByTimeAsync(100);
    expect(reads).toHaveLength(2);
    reads[1]?.answer.resolve(alert("c", "2026-01-01T00:03:00Z", { count: 2 }));
    await vi.waitFor(() => expect(shown()).toEqual([["c", 2]]));
    reads[0]?.answer.resolve(alert("c", "2026-01-01T00:03:00Z", { count: 1 }));
    await vi.advanceTimersByTimeAsync(100);
    expect(shown()).toEqual([["c", 2]]);
  });

  it("reloads the pages instead of reading a burst of rows one by one", async () => {
    pageAnswers[0]?.resolve({ items: [], next_cursor: null });
    await vi.waitFor(() => expect(shown()).toEqual([]));
    Array.from({ length: 21 }, (_, i) => rows.announce(`n${i}`));
    await vi.advanceTimersByTimeAsync(100);
    expect(reads).toHaveLength(0);
    expect(pageAnswers).toHaveLength(2);
  });

  it("remembers the rows it showed until the pages are read again, reloading them past SHOWN_MAX rows", async () => {
    pageAnswers[0]?.resolve({ items: [], next_cursor: null });
    await vi.waitFor(() => expect(shown()).toEqual([]));
    const many = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => alert(`${prefix}${i}`, "2026-01-01T00:00:00Z"));
    rows.show(many("a", SHOWN_MAX));
    await vi.advanceTimersByTimeAsync(100);
    expect(pageAnswers).toHaveLength(1);
    rows.show(many("b", 1)); // one row more than it keeps track of: the pages are read again, which forgets them
    await vi.waitFor(() => expect(pageAnswers).toHaveLength(2));
    pageAnswers[1]?.resolve({ items: [], next_cursor: null });
    await vi.waitFor(() => expect(shown()).toEqual([]));
    rows.show(many("c", SHOWN_MAX));
    await vi.advanceTimersByTimeAsync(100);
    expect(pageAnswers).toHaveLength(2);
  });
});
