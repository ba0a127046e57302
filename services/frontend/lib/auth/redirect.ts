// Any base works: only whether a path stays on it matters.
const BASE = "https://site.invalid";

/**
 * Only a path on this site, as the router will read it: `/x?y#z` but not `//host`, `/\host`, or `/\t/host`
 * (URL parsing drops tabs and newlines, making that `//host`). The path is resolved as the router resolves it
 * and must stay on the same origin; what is returned is the resolved path, query and fragment, so the
 * router sees exactly what was checked. Control characters and whitespace are refused outright.
 */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith("/") || /[\u0000-\u0020\u007f\\]/.test(next)) return "/";
  let url: URL;
  try {
    url = new URL(next, BASE);
  } catch {
    return "/";
  }
  // "/.//host" resolves to the path "//host": on its own, a protocol-relative URL.
  if (url.origin !== BASE || url.pathname.startsWith("//")) return "/";
  return url.pathname + url.search + url.hash;
}
