"use client";
/** One series: its last day with anomaly markers, and its forecast with the confidence band, threshold and
 * predicted exhaustion time. */
import { useQuery } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { ApiError, call } from "@/lib/api/client";
import { anomalyMarkers, seriesPoints, windowFor, withForecast } from "@/lib/charts";
import { QueryView } from "@/components/ui/states";
import { Time } from "@/components/ui/time";
import { TimeChart } from "@/components/ui/time-chart";

export interface SeriesRef {
  host: string;
  measurement: string;
  field: string;
}

function useDay(ref: SeriesRef) {
  const api = useApi();
  const end = new Date(Math.ceil(Date.now() / 60_000) * 60_000);
  const start = new Date(end.getTime() - 86_400_000);
  const range = { start: start.toISOString(), end: end.toISOString() };
  const series = useQuery({
    queryKey: ["series", ref, range.start],
    queryFn: () => call(api.GET("/api/v1/metrics/series", { params: { query: { ...ref, ...range, window: windowFor(start, end, 144) } } })),
  });
  const anomalies = useQuery({
    queryKey: ["anomalies", ref, range.start],
    queryFn: () => call(api.GET("/api/v1/anomalies", { params: { query: { ...ref, ...range } } })),
  });
  return { series, anomalies };
}

export function SeriesPanels({ series: ref }: { series: SeriesRef }) {
  const api = useApi();
  const { series, anomalies } = useDay(ref);
  const forecast = useQuery({
    queryKey: ["forecast", ref],
    queryFn: () => call(api.GET("/api/v1/forecasts", { params: { query: { ...ref, horizon: "7d" } } })),
  });
  const name = `${ref.measurement}.${ref.field} on ${ref.host}`;
  return (
    <>
      <section className="panel" aria-labelledby="series-title">
        <h2 id="series-title">{name}: last 24 h and anomalies</h2>
        <QueryView query={series} what="the series" isEmpty={(s) => s.points.length === 0} empty="No data for this series in the last day.">
          {(s) => <TimeChart data={seriesPoints(s.points)} label={`${name} with anomaly markers`}
            markers={anomalyMarkers(anomalies.data?.items ?? [])} />}
        </QueryView>
        <p className="muted">{anomalies.data ? `${anomalies.data.items.length} anomalies marked` : "Loading anomalies…"}</p>
      </section>
      <section className="panel" aria-labelledby="forecast-title">
        <h2 id="forecast-title">Forecast</h2>
        {forecast.error instanceof ApiError && forecast.error.status === 404
          ? <p className="muted">{forecast.error.message}</p>
          : <QueryView query={forecast} what="the forecast" isEmpty={(f) => f.items.length === 0}
          empty="No forecast for this series yet (the worker forecasts series with enough history).">
          {(f) => {
            const item = f.items[0];
            if (!item) return null;
            const marks = item.exhausts_at ? [{ t: Date.parse(item.exhausts_at), label: "exhausted" }] : [];
            return (
              <>
                <TimeChart data={withForecast(seriesPoints(series.data?.points ?? []), item.points)} marks={marks}
                  threshold={item.threshold} label={`${name}: history and ${f.horizon_hours} h forecast with confidence band`} />
                <p>
                  {item.exhausts_at ? <>Reaches {item.threshold} <Time iso={item.exhausts_at} /> (between{" "}
                    <Time iso={item.exhausts_earliest} /> and <Time iso={item.exhausts_latest} />).</>
                    : "Not expected to reach its threshold within the horizon."}{" "}
                  <span className="muted">Method {item.method}, computed <Time iso={item.computed_at} />.</span>
                </p>
              </>
            );
          }}
        </QueryView>}
      </section>
    </>
  );
}
