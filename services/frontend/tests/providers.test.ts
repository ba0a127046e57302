import { QueryClient } from "@tanstack/react-query";
import { describe, expect, it } from "vitest";
import { clearOnUserChange } from "@/components/providers";
import type { Session } from "@/lib/auth/session";

const session = (subject: string, role: Session["role"], accessToken = "a0"): Session =>
  ({ accessToken, refreshToken: "r0", accessExpiresAt: 0, subject, role });

function cacheOf(ann: Session) {
  const client = new QueryClient();
  const seen = clearOnUserChange(client);
  seen(ann);
  client.setQueryData(["users"], ["ann", "bob"]);
  return { client, seen };
}

describe("the query cache across sign-ins", () => {
  it("is kept while the same user's tokens are refreshed", () => {
    const { client, seen } = cacheOf(session("ann", "admin"));
    seen(session("ann", "admin", "a1"));
    expect(client.getQueryData(["users"])).toEqual(["ann", "bob"]);
  });

  it("is emptied when the session ends, whichever tab ended it or when it expired", () => {
    const { client, seen } = cacheOf(session("ann", "admin"));
    seen(null);
    expect(client.getQueryData(["users"])).toBeUndefined();
  });

  it("is emptied when another user, or the same one with another role, signs in", () => {
    const other = cacheOf(session("ann", "admin"));
    other.seen(session("bob", "admin"));
    expect(other.client.getQueryData(["users"])).toBeUndefined();
    const demoted = cacheOf(session("ann", "admin"));
    demoted.seen(session("ann", "viewer"));
    expect(demoted.client.getQueryData(["users"])).toBeUndefined();
  });
});
