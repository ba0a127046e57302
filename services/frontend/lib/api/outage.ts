/** Whether the API answered lately: failed requests raise the outage banner, the next answer lowers it. */
import { useSyncExternalStore } from "react";

let problem: string | null = null;
const listeners = new Set<() => void>();

function set(next: string | null): void {
  if (next === problem) return;
  problem = next;
  listeners.forEach((listener) => listener());
}

export const reportUnreachable = (reason: string): void => set(reason);
export const reportReachable = (): void => set(null);

export function useOutage(): string | null {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => problem,
    () => null,
  );
}
