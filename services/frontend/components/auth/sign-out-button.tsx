"use client";
import { useApi } from "@/components/providers";
import { readSession, writeSession } from "@/lib/auth/session";

export function SignOutButton() {
  const api = useApi();
  async function signOut() {
    const session = readSession();
    if (session) await api.POST("/api/v1/auth/logout", { body: { refresh_token: session.refreshToken } }).catch(() => undefined);
    writeSession(null); // every tab sees it through the storage event, and <Providers> empties its query cache
  }
  return <button type="button" onClick={() => void signOut()}>Sign out</button>;
}
