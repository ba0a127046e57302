"use client";
import { useQueryClient } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { readSession, writeSession } from "@/lib/auth/session";

export function SignOutButton() {
  const api = useApi();
  const queryClient = useQueryClient();
  async function signOut() {
    const session = readSession();
    if (session) await api.POST("/api/v1/auth/logout", { body: { refresh_token: session.refreshToken } }).catch(() => undefined);
    writeSession(null); // every tab sees it through the storage event
    queryClient.clear();
  }
  return <button type="button" onClick={() => void signOut()}>Sign out</button>;
}
