"use client";
/** Dry-run replay (admin): start one, follow the runs, read the selected run's diff. */
import { useQuery } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { useCan } from "@/components/auth/use-can";
import { call, type Schemas } from "@/lib/api/client";
import { useUrlParams } from "@/lib/url-state";
import { Empty, QueryView } from "@/components/ui/states";
import { Time } from "@/components/ui/time";
import { ReplayDiff } from "@/components/replay/replay-diff";
import { ReplayForm } from "@/components/replay/replay-form";

type Run = Schemas["ReplayRead"];
const POLL_MS = 2_000;
const pending = (run: Run) => run.status === "queued" || run.status === "running";

export function ReplayView() {
  const api = useApi();
  const isAdmin = useCan("admin");
  const [values, set] = useUrlParams(["run"] as const);
  const runs = useQuery({
    queryKey: ["replays"],
    enabled: isAdmin,
    queryFn: () => call(api.GET("/api/v1/replay", { params: { query: { limit: 50 } } })),
    refetchInterval: (query) => (query.state.data?.some(pending) ? POLL_MS : false),
  });
  if (!isAdmin) return <Empty>Replays are for admins.</Empty>;
  const selected = runs.data?.find((run) => run.id === values.run) ?? runs.data?.[0];
  return (
    <>
      <h1>Replay</h1>
      <p className="muted">What candidate settings would have done over a past range, against what did happen. Nothing
        you see elsewhere changes.</p>
      <ReplayForm onStarted={(id) => set("run", id)} />
      <div className="panel">
        <h2>Runs</h2>
        <QueryView query={runs} what="replays" isEmpty={(d) => d.length === 0}>
          {(data) => (
            <table>
              <thead><tr><th>Started</th><th>By</th><th>Range</th><th>Status</th><th>Would / did incidents</th><th></th></tr></thead>
              <tbody>
                {data.map((run) => (
                  <tr key={run.id} aria-current={run.id === selected?.id ? "true" : undefined}>
                    <td><Time iso={run.created_at} /></td>
                    <td>{run.requested_by}</td>
                    <td>{new Date(run.params.start).toISOString()} – {new Date(run.params.end).toISOString()}</td>
                    <td>{run.status}</td>
                    <td>{run.result ? `${run.result.would.incidents} / ${run.result.did.incidents}` : "—"}</td>
                    <td><button onClick={() => set("run", run.id)}>Show</button></td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </QueryView>
      </div>
      {selected && (
        <section className="panel" aria-label="Replay result">
          <h2>Result</h2>
          {selected.result ? <ReplayDiff result={selected.result} />
            : selected.status === "failed" ? <p className="error" role="alert">{selected.error}</p>
              : <p role="status">Replaying…</p>}
          <details>
            <summary>Candidate changes</summary>
            <pre>{JSON.stringify(selected.params.changes, null, 1)}</pre>
          </details>
        </section>
      )}
    </>
  );
}
