"use client";
import { useQuery } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { call } from "@/lib/api/client";
import { seriesPoints, windowFor } from "@/lib/charts";
import { shown, type KeyMetric } from "@/components/fleet/key-metrics";

/** A host's key metric over the last `hours`, as chart points (used %, whole-minute windows). */
export function useHostSeries(host: string, metric: KeyMetric, hours: number) {
  const api = useApi();
  return useQuery({
    queryKey: ["series", host, metric.measurement, metric.field, hours],
    queryFn: async () => {
      const end = new Date();
      const start = new Date(end.getTime() - hours * 3_600_000);
      const series = await call(api.GET("/api/v1/metrics/series", { params: { query: {
        host, measurement: metric.measurement, field: metric.field, start: start.toISOString(), end: end.toISOString(),
        window: windowFor(start, end, hours <= 6 ? 72 : 120),
      } } }));
      return shown(metric, seriesPoints(series.points));
    },
    refetchInterval: 60_000,
  });
}
