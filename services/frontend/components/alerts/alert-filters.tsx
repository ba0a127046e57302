"use client";
import type { AlertFilters } from "@/components/alerts/filters";

const SEVERITIES = ["critical", "high", "medium", "low", "info"];
const STATUSES = ["firing", "acknowledged", "resolved"];
const PERIODS: [string, string][] = [["", "any time"], ["1h", "last hour"], ["24h", "last 24 h"], ["7d", "last 7 days"]];

export function AlertFiltersBar({ values, set }: { values: AlertFilters; set: (key: keyof AlertFilters, value: string) => void }) {
  return (
    <fieldset className="row" aria-label="Filters">
      <label>Severity
        <select value={values.severity} onChange={(e) => set("severity", e.target.value)}>
          <option value="">all</option>
          {SEVERITIES.map((s) => <option key={s}>{s}</option>)}
        </select>
      </label>
      <label>Status
        <select value={values.status} onChange={(e) => set("status", e.target.value)}>
          <option value="">all</option>
          {STATUSES.map((s) => <option key={s}>{s}</option>)}
        </select>
      </label>
      <label>Source
        <input value={values.source} onChange={(e) => set("source", e.target.value)} placeholder="any" size={12} />
      </label>
      <label>Host
        <input value={values.host} onChange={(e) => set("host", e.target.value)} placeholder="any" size={12} />
      </label>
      <label>Time
        <select value={values.period} onChange={(e) => set("period", e.target.value)}>
          {PERIODS.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
        </select>
      </label>
    </fieldset>
  );
}
