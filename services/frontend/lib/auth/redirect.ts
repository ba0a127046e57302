/** Only a path on this site: `/x` but not `//host` or `/\host`, which browsers read as another origin. */
export function safeNext(next: string | null): string {
  return next && /^\/(?![/\\])/.test(next) ? next : "/";
}
