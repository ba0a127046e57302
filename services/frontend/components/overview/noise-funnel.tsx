"use client";
import { Bar, BarChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { Schemas } from "@/lib/api/client";

const percent = (part: number, whole: number) => (whole ? `${((1 - part / whole) * 100).toFixed(1)}% fewer` : "—");

/** Events → alerts → incidents: how much the pipeline folds, as numbers and a bar chart. */
export function NoiseFunnel({ noise }: { noise: Schemas["NoiseReduction"] }) {
  const stages = [
    { stage: "events", count: noise.events },
    { stage: "alerts", count: noise.alerts },
    { stage: "incidents", count: noise.incidents },
  ];
  return (
    <section className="panel" aria-labelledby="noise">
      <h2 id="noise">Noise reduction</h2>
      <div className="stats">
        {stages.map((s) => (
          <div key={s.stage} className="stat"><strong>{s.count.toLocaleString()}</strong><span>{s.stage}</span></div>
        ))}
      </div>
      <p className="muted">
        Alerts: {percent(noise.alerts, noise.events)} than events; incidents: {percent(noise.incidents, noise.alerts)} than alerts.
      </p>
      <figure role="img" aria-label="Events, alerts and incidents" style={{ margin: 0, height: 120 }}>
        <ResponsiveContainer width="100%" height="100%">
          <BarChart data={stages} layout="vertical" margin={{ left: 16, right: 16 }}>
            <XAxis type="number" scale="log" domain={[1, "auto"]} allowDataOverflow stroke="var(--muted)" />
            <YAxis type="category" dataKey="stage" stroke="var(--muted)" width={72} />
            <Tooltip contentStyle={{ background: "var(--panel)", border: "1px solid var(--border)" }} />
            <Bar dataKey="count" fill="var(--chart-1)" isAnimationActive={false} />
          </BarChart>
        </ResponsiveContainer>
      </figure>
    </section>
  );
}
