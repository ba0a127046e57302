"use client";
/** Detection quality: what the shipped detectors score on the benchmarks (scripts/bench/quality.py), on what
 * data, measured when and at which commit, with the plain baselines beside. */
import { useQuery } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { call, type Schemas } from "@/lib/api/client";
import { QueryView } from "@/components/ui/states";
import { Time } from "@/components/ui/time";
import { BenchmarkTable } from "@/components/quality/benchmark-table";

type Report = Schemas["QualityReport"];

export function QualityView() {
  const api = useApi();
  const report = useQuery({ queryKey: ["quality"], queryFn: () => call(api.GET("/api/v1/quality")) });
  return (
    <>
      <h1>Detection quality</h1>
      <QueryView
        query={report}
        what="quality report"
        isEmpty={(data) => !data.available}
        empty="No quality report yet: the test command (scripts/test_all.sh) or scripts/bench/quality.py writes one."
      >
        {(data) => <ReportBody report={data} />}
      </QueryView>
    </>
  );
}

function ReportBody({ report }: { report: Report }) {
  return (
    <>
      <p className="muted" aria-label="Measured">
        Measured <Time iso={report.measured_at} />
        {report.git_commit && <> at commit <code>{report.git_commit.slice(0, 10)}</code></>}
        {report.duration_s != null && <> in {Math.round(report.duration_s)} s</>}, shipped settings, fixed seeds.
      </p>
      {report.benchmarks.map((benchmark) => (
        <section key={benchmark.name} className="panel" aria-labelledby={`quality-${benchmark.name}`}>
          <h2 id={`quality-${benchmark.name}`}>{benchmark.title}</h2>
          <p className="muted">Data: {benchmark.data}</p>
          <BenchmarkTable benchmark={benchmark} />
        </section>
      ))}
    </>
  );
}
