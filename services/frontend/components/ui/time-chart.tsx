"use client";
/** One renderer for every time chart: lines (dashed for forecasts), a confidence band, anomaly markers,
 * a shaded window and vertical marks. Data comes prepared by lib/charts.ts. */
import {
  Area, Bar, CartesianGrid, ComposedChart, Line, ReferenceArea, ReferenceDot, ReferenceLine, ResponsiveContainer,
  Tooltip, XAxis, YAxis,
} from "recharts";
import { formatTick, type ChartPoint, type Marker } from "@/lib/charts";

export interface TimeChartProps {
  data: ChartPoint[];
  label: string; // what the chart shows, for screen readers
  kind?: "line" | "bar";
  unit?: string;
  markers?: Marker[];
  window?: { from: number; to: number };
  marks?: { t: number; label: string }[];
  threshold?: number | null;
  height?: number;
}

export function TimeChart(props: TimeChartProps) {
  const { data, label, kind = "line", unit = "", markers = [], window, marks = [], threshold, height = 220 } = props;
  const ts = data.map((p) => p.t).concat(marks.map((m) => m.t));
  const span = ts.length ? Math.max(...ts) - Math.min(...ts) : 0;
  const hasForecast = data.some((p) => p.forecast != null);
  return (
    <figure role="img" aria-label={label} style={{ margin: 0, height }}>
      <ResponsiveContainer width="100%" height="100%">
        <ComposedChart data={data} margin={{ top: 8, right: 16, bottom: 0, left: 0 }}>
          <CartesianGrid stroke="var(--border)" strokeDasharray="3 3" />
          <XAxis dataKey="t" type="number" scale="time" domain={["dataMin", "dataMax"]} stroke="var(--muted)"
            tickFormatter={(t: number) => formatTick(t, span)} />
          <YAxis stroke="var(--muted)" width={48} unit={unit} />
          <Tooltip labelFormatter={(t) => new Date(Number(t)).toLocaleString()}
            contentStyle={{ background: "var(--panel)", border: "1px solid var(--border)" }} />
          {window && <ReferenceArea x1={window.from} x2={window.to} fill="var(--sev-high)" fillOpacity={0.12} />}
          {hasForecast && <Area dataKey="band" stroke="none" fill="var(--chart-band)" isAnimationActive={false} name="confidence" />}
          {kind === "bar"
            ? <Bar dataKey="value" fill="var(--chart-1)" isAnimationActive={false} name="count" />
            : <Line dataKey="value" stroke="var(--chart-1)" dot={false} connectNulls={false} isAnimationActive={false} name="value" />}
          {hasForecast && <Line dataKey="forecast" stroke="var(--chart-1)" strokeDasharray="5 4" strokeOpacity={0.7}
            dot={false} isAnimationActive={false} name="forecast" />}
          {threshold != null && <ReferenceLine y={threshold} stroke="var(--danger)" strokeDasharray="4 4" />}
          {marks.map((m) => <ReferenceLine key={m.t} x={m.t} stroke="var(--danger)" label={{ value: m.label, fill: "var(--danger)", fontSize: 11 }} />)}
          {markers.map((m) => <ReferenceDot key={m.t} x={m.t} y={m.value} r={5} fill="var(--danger)" stroke="var(--panel)" />)}
        </ComposedChart>
      </ResponsiveContainer>
    </figure>
  );
}

export function Sparkline({ data, label }: { data: ChartPoint[]; label: string }) {
  return (
    <figure role="img" aria-label={label} style={{ margin: 0, width: 120, height: 32 }}>
      <ResponsiveContainer width="100%" height="100%">
        <ComposedChart data={data}>
          <XAxis dataKey="t" type="number" domain={["dataMin", "dataMax"]} hide />
          <YAxis hide domain={[0, "auto"]} />
          <Line dataKey="value" stroke="var(--chart-1)" dot={false} isAnimationActive={false} />
        </ComposedChart>
      </ResponsiveContainer>
    </figure>
  );
}
