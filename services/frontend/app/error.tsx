"use client";
/** What a page shows when it throws while rendering: the message, and a retry that renders it again. */
import Link from "next/link";

export default function PageError({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return (
    <div className="state error" role="alert">
      <h1>This page failed</h1>
      <p>{error.message || "An unexpected error."}{error.digest && <small> (reference {error.digest})</small>}</p>
      <p className="row" style={{ justifyContent: "center" }}>
        <button onClick={reset}>Try again</button>
        <Link href="/">Back to the overview</Link>
      </p>
    </div>
  );
}
