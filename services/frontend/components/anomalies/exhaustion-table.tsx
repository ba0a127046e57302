import Link from "next/link";
import type { Schemas } from "@/lib/api/client";
import { Time } from "@/components/ui/time";

type Exhaustion = Schemas["ExhaustionRead"];

export function ExhaustionTable({ items }: { items: Exhaustion[] }) {
  if (items.length === 0) return <p className="muted">No series is forecast to reach its threshold.</p>;
  return (
    <table>
      <thead>
        <tr><th>Host</th><th>Series</th><th className="num">Now</th><th className="num">Threshold</th><th>Exhausts</th><th>Range</th></tr>
      </thead>
      <tbody>
        {items.map((e) => (
          <tr key={e.series_key}>
            <td>{e.host ? <Link href={`/fleet/${encodeURIComponent(e.host)}`}>{e.host}</Link> : "—"}</td>
            <td>
              <Link href={`/anomalies?${new URLSearchParams({ host: e.host ?? "", measurement: e.measurement, field: e.field })}`}>
                {e.measurement}.{e.field}
              </Link>
            </td>
            <td className="num">{e.last_value.toFixed(1)}</td>
            <td className="num">{e.threshold ?? "—"}</td>
            <td><Time iso={e.exhausts_at} /></td>
            <td className="muted"><Time iso={e.exhausts_earliest} /> – <Time iso={e.exhausts_latest} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
