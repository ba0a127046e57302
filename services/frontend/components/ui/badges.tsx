import type { Schemas } from "@/lib/api/client";

export function SeverityBadge({ severity }: { severity: Schemas["Severity"] | string | null }) {
  const value = severity ?? "info";
  return <span className={`badge sev-${value}`}>{value}</span>;
}

export function StatusBadge({ status }: { status: string }) {
  const tone = status === "resolved" ? "low" : status === "acknowledged" ? "medium" : "high";
  return <span className={`badge sev-${tone}`}>{status}</span>;
}
