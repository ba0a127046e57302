"use client";
import Link from "next/link";
import type { Schemas } from "@/lib/api/client";
import { AlertActions } from "@/components/alerts/alert-actions";
import { SeverityBadge, StatusBadge } from "@/components/ui/badges";
import { Time } from "@/components/ui/time";

type Alert = Schemas["AlertRead"];

export function AlertTable({ alerts, onChanged }: { alerts: Alert[]; onChanged: (row: Alert) => void }) {
  return (
    <table>
      <thead>
        <tr>
          <th>Severity</th><th>Title</th><th>Status</th><th>Source</th><th>Host</th>
          <th className="num">Count</th><th>Last seen</th><th>Incident</th><th><span className="muted">Actions</span></th>
        </tr>
      </thead>
      <tbody>
        {alerts.map((a) => (
          <tr key={a.id} data-alert-id={a.id}>
            <td><SeverityBadge severity={a.severity} /></td>
            <td>{a.title}</td>
            <td><StatusBadge status={a.status} /></td>
            <td>{a.source}</td>
            <td>{a.host ? <Link href={`/fleet/${encodeURIComponent(a.host)}`}>{a.host}</Link> : "—"}</td>
            <td className="num">{a.count}</td>
            <td><Time iso={a.last_seen_at} /></td>
            <td>{a.incident_id ? <Link href={`/incidents/${a.incident_id}`}>open</Link> : "—"}</td>
            <td><AlertActions alert={a} onChanged={onChanged} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
