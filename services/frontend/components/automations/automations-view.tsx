"use client";
/** Automations: runs awaiting approval (operators approve or reject), recent runs with their output and
 * outcome, each rule's record (success rate, time to repair), and the rules (from automations.yml or the API). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Fragment, useState } from "react";
import { useApi } from "@/components/providers";
import { useCan } from "@/components/auth/use-can";
import { call, type Schemas } from "@/lib/api/client";
import { QueryView } from "@/components/ui/states";
import { Time } from "@/components/ui/time";

type Run = Schemas["AutomationRunRead"];
type Rule = Schemas["AutomationRuleRead"];

function useDecision() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ id, approve }: { id: string; approve: boolean }) => call(approve
      ? api.POST("/api/v1/automations/runs/{run_id}/approve", { params: { path: { run_id: id } }, body: { comment: "" } })
      : api.POST("/api/v1/automations/runs/{run_id}/reject", { params: { path: { run_id: id } }, body: { comment: "" } })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["automation-runs"] }),
  });
}

function Approval({ run }: { run: Run }) {
  const canDecide = useCan("operator");
  const decide = useDecision();
  return (
    <tr>
      <td>{run.rule_name}</td>
      <td>{run.target}</td>
      <td>{run.reason}</td>
      <td><Time iso={run.approval_expires_at} /></td>
      <td>
        {canDecide && (
          <>
            <button onClick={() => decide.mutate({ id: run.id, approve: true })} disabled={decide.isPending}
              aria-label={`Approve ${run.rule_name} on ${run.target}`}>Approve</button>{" "}
            <button onClick={() => decide.mutate({ id: run.id, approve: false })} disabled={decide.isPending}
              aria-label={`Reject ${run.rule_name} on ${run.target}`}>Reject</button>
          </>
        )}
        {decide.error && <span className="error" role="alert">{decide.error.message}</span>}
      </td>
    </tr>
  );
}

/** Every run awaiting approval, asked of the API by status: the list of recent runs stops at the newest 200. */
function Approvals() {
  const api = useApi();
  const waiting = useQuery({
    queryKey: ["automation-runs", "awaiting_approval"],
    queryFn: () => call(api.GET("/api/v1/automations/runs", { params: { query: { status: "awaiting_approval" } } })),
    refetchInterval: 5_000,
  });
  return (
    <QueryView query={waiting} what="runs awaiting approval" isEmpty={(d) => d.length === 0} empty="No run awaits approval.">
      {(runs) => (
        <table>
          <thead><tr><th>Rule</th><th>Target</th><th>Why</th><th>Expires</th><th /></tr></thead>
          <tbody>{runs.map((run) => <Approval key={run.id} run={run} />)}</tbody>
        </table>
      )}
    </QueryView>
  );
}

function RunOutput({ id }: { id: string }) {
  const api = useApi();
  const run = useQuery({
    queryKey: ["automation-run", id],
    queryFn: () => call(api.GET("/api/v1/automations/runs/{run_id}", { params: { path: { run_id: id } } })),
  });
  return (
    <QueryView query={run} what="the run's output">
      {(detail) => <pre aria-label="Run output">{detail.output || "(no output)"}</pre>}
    </QueryView>
  );
}

export function Runs({ runs }: { runs: Run[] }) {
  const [open, setOpen] = useState<string | null>(null);
  return (
    <table>
      <thead><tr><th>When</th><th>Rule</th><th>Target</th><th>Status</th><th>Changed / failed</th><th>Outcome</th><th>Reason</th></tr></thead>
      <tbody>
        {runs.map((run) => (
          <Fragment key={run.id}>
            <tr>
              <td><Time iso={run.created_at} /></td>
              <td>{run.rule_name}{run.dry_run ? " (dry run)" : ""}</td>
              <td>{run.target}</td>
              <td>{run.status}</td>
              <td>{run.changed ?? "—"} / {run.failed ?? "—"}</td>
              <td>{run.outcome ?? "—"}{run.mttr_s != null ? ` in ${Math.round(run.mttr_s)} s` : ""}</td>
              <td>
                {run.reason}{" "}
                {run.started_at && (
                  <button onClick={() => setOpen(open === run.id ? null : run.id)} aria-expanded={open === run.id}>
                    Output
                  </button>
                )}
              </td>
            </tr>
            {open === run.id && <tr><td colSpan={7}><RunOutput id={run.id} /></td></tr>}
          </Fragment>
        ))}
      </tbody>
    </table>
  );
}

const percent = (rate: number | null) => (rate == null ? "—" : `${Math.round(rate * 100)} %`);

export function Record({ stats }: { stats: Schemas["AutomationStats"][] }) {
  return (
    <table>
      <thead><tr><th>Rule</th><th>Action</th><th>Runs</th><th>Fixed / not fixed / worse</th><th>Success rate</th><th>Mean time to repair</th></tr></thead>
      <tbody>
        {stats.map((s) => (
          <tr key={`${s.rule_name}-${s.action}`}>
            <td>{s.rule_name}</td>
            <td><code>{s.action}</code></td>
            <td>{s.runs} ({s.failed} failed)</td>
            <td>{s.fixed} / {s.not_fixed} / {s.worse}</td>
            <td>{percent(s.success_rate)}</td>
            <td>{s.mean_mttr_s == null ? "—" : `${Math.round(s.mean_mttr_s)} s`}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Rules({ rules }: { rules: Rule[] }) {
  return (
    <table>
      <thead><tr><th>Rule</th><th>From</th><th>Trigger</th><th>Action</th><th>Guards</th><th>Enabled</th></tr></thead>
      <tbody>
        {rules.map((rule) => (
          <tr key={rule.id} id={`rule-${rule.name}`}>
            <td>{rule.name}<div className="muted">{rule.spec.description}</div></td>
            <td>{rule.origin}</td>
            <td>{rule.spec.trigger.events.join(", ")}</td>
            <td>{rule.spec.action.kind} <code>{rule.spec.action.playbook ?? rule.spec.action.url}</code></td>
            <td>{rule.spec.guards?.destructive ? "approval, " : ""}cooldown {rule.spec.guards?.cooldown_s ?? 900} s</td>
            <td>{rule.enabled ? "yes" : "no"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function AutomationsView() {
  const api = useApi();
  const runs = useQuery({ queryKey: ["automation-runs"], queryFn: () => call(api.GET("/api/v1/automations/runs")),
                          refetchInterval: 5_000 });
  const rules = useQuery({ queryKey: ["automation-rules"], queryFn: () => call(api.GET("/api/v1/automations/rules")) });
  const stats = useQuery({ queryKey: ["automation-runs", "stats"],
                           queryFn: () => call(api.GET("/api/v1/automations/stats")) });
  return (
    <>
      <h1>Automations</h1>
      <section className="panel" aria-labelledby="approvals">
        <h2 id="approvals">Awaiting approval</h2>
        <Approvals />
      </section>
      <section className="panel" aria-labelledby="runs">
        <h2 id="runs">Runs</h2>
        <QueryView query={runs} what="runs" isEmpty={(d) => d.length === 0}>{(data) => <Runs runs={data} />}</QueryView>
      </section>
      <section className="panel" aria-labelledby="record">
        <h2 id="record">Record</h2>
        <QueryView query={stats} what="outcomes" isEmpty={(d) => d.length === 0}>{(data) => <Record stats={data} />}</QueryView>
      </section>
      <section className="panel" aria-labelledby="rules">
        <h2 id="rules">Rules</h2>
        <QueryView query={rules} what="rules" isEmpty={(d) => d.length === 0}>{(data) => <Rules rules={data} />}</QueryView>
      </section>
    </>
  );
}
