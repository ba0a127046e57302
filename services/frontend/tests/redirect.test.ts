import { describe, expect, it } from "vitest";
import { safeNext } from "@/lib/auth/redirect";

// Where the router would go: Next.js resolves the path against the page's URL, as new URL does.
const SITE = "https://aiops.local/login";
const landsOnSite = (next: string | null) => new URL(safeNext(next), SITE).origin === new URL(SITE).origin;

describe("safeNext (where the login form goes after signing in)", () => {
  it("keeps paths on this site with their query and fragment", () => {
    expect(safeNext("/alerts?severity=high")).toBe("/alerts?severity=high");
    expect(safeNext("/incidents/42#timeline")).toBe("/incidents/42#timeline");
    expect(safeNext("/")).toBe("/");
    expect(safeNext("/search?q=a%20b")).toBe("/search?q=a%20b");
  });

  it.each([
    "/\t/evil.example/login", // URL parsing drops tabs and newlines: "//evil.example"
    "/\n/evil.example",
    "/\r\\evil.example",
    "/ /evil.example",
    "/\u0000/evil.example",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/.//evil.example", // its pathname is "//evil.example"
    "https://evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    "evil.example",
    "",
    null,
  ])("sends %j home", (next) => {
    expect(safeNext(next)).toBe("/");
    expect(landsOnSite(next)).toBe(true);
  });
});
