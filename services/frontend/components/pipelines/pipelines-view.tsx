"use client";
/** Pipelines: every CI/CD pipeline with its health grade, score, builds and failures of the last 7 days and its
 * last run. */
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { call, type Schemas } from "@/lib/api/client";
import { GRADE_SEVERITY } from "@/components/pipelines/prepare";
import { StatusBadge } from "@/components/ui/badges";
import { QueryView } from "@/components/ui/states";
import { Time } from "@/components/ui/time";

export function GradeBadge({ grade }: { grade: string | null | undefined }) {
  return grade
    ? <span className={`badge sev-${GRADE_SEVERITY[grade] ?? "medium"}`} title={`grade ${grade}`}>{grade}</span>
    : <span className="badge" title="not graded yet">—</span>;
}

function PipelineRow({ pipeline }: { pipeline: Schemas["PipelineRead"] }) {
  const last = pipeline.last_run;
  return (
    <tr>
      <td><GradeBadge grade={pipeline.grade} /></td>
      <td><Link href={`/pipelines/${pipeline.id}`}>{pipeline.name}</Link></td>
      <td>{pipeline.provider === "github_actions" ? "GitHub Actions" : "Jenkins"}</td>
      <td>{pipeline.score == null ? "—" : pipeline.score.toFixed(0)}</td>
      <td>{pipeline.builds_7d}</td>
      <td>{pipeline.failed_7d}</td>
      <td>{last ? <><StatusBadge status={last.conclusion ?? last.status} /> <Time iso={last.started_at ?? last.finished_at} /></> : "—"}</td>
    </tr>
  );
}

export function PipelinesView() {
  const api = useApi();
  const pipelines = useQuery({
    queryKey: ["pipelines"],
    queryFn: () => call(api.GET("/api/v1/pipelines")),
    refetchInterval: 60_000,
  });
  return (
    <>
      <h1>Pipelines</h1>
      <div className="panel">
        <QueryView query={pipelines} what="pipelines" isEmpty={(d) => d.length === 0}
          empty="No pipeline yet. Add a GitHub Actions or Jenkins source, or point a GitHub workflow_run webhook at /webhooks/github.">
          {(data) => (
            <table>
              <thead>
                <tr><th>Grade</th><th>Pipeline</th><th>CI</th><th>Score</th><th>Builds (7 d)</th><th>Failed (7 d)</th><th>Last run</th></tr>
              </thead>
              <tbody>{data.map((p) => <PipelineRow key={p.id} pipeline={p} />)}</tbody>
            </table>
          )}
        </QueryView>
      </div>
    </>
  );
}
