"use client";
/** Filters live in the URL (shareable, kept on reload): read them typed, write them without a history entry. */
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useCallback } from "react";

export function useUrlParams<K extends string>(keys: readonly K[]): [Record<K, string>, (key: K, value: string) => void] {
  const params = useSearchParams();
  const router = useRouter();
  const path = usePathname();
  const values = Object.fromEntries(keys.map((k) => [k, params.get(k) ?? ""])) as Record<K, string>;
  const set = useCallback(
    (key: K, value: string) => {
      const next = new URLSearchParams(params.toString());
      if (value) next.set(key, value);
      else next.delete(key);
      router.replace(`${path}?${next.toString()}`, { scroll: false });
    },
    [params, router, path],
  );
  return [values, set];
}
