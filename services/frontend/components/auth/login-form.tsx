"use client";
import { useRouter, useSearchParams } from "next/navigation";
import { useState, type FormEvent } from "react";
import { useApi } from "@/components/providers";
import { call } from "@/lib/api/client";
import { safeNext } from "@/lib/auth/redirect";
import { sessionFromPair, writeSession } from "@/lib/auth/session";

export function LoginForm() {
  const api = useApi();
  const router = useRouter();
  const params = useSearchParams();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      const pair = await call(
        api.POST("/api/v1/auth/login", {
          body: { username: String(form.get("username")), password: String(form.get("password")), scope: "" },
          bodySerializer: (body) => new URLSearchParams(body as Record<string, string>),
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
        }),
      );
      writeSession(sessionFromPair(pair));
      router.replace(safeNext(params.get("next")));
    } catch (failure) {
      setError((failure as Error).message);
      setBusy(false);
    }
  }

  return (
    <div className="login panel">
      <h1>Sign in to AIOps</h1>
      <form onSubmit={(event) => void submit(event)}>
        <label>
          Username
          <input name="username" autoComplete="username" required autoFocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required />
        </label>
        {error && <p className="error" role="alert">{error}</p>}
        <button className="primary" type="submit" disabled={busy}>{busy ? "Signing in…" : "Sign in"}</button>
      </form>
    </div>
  );
}
