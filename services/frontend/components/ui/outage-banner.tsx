"use client";
import { useOutage } from "@/lib/api/outage";

export function OutageBanner() {
  const problem = useOutage();
  if (!problem) return null;
  return (
    <div className="banner" role="alert">
      <strong>API unavailable:</strong> {problem}. Showing the last data received; retrying.
    </div>
  );
}
