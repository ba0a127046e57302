"use client";
/** Polled sources (admin): what the workers poll (SNMP, Redfish, Datadog, Splunk, ThousandEyes), each with its
 * health as the polling worker recorded it, a "Test connection" action whose steps say which stage failed, and
 * enable/disable; a form creates one (credentials are sent once and never shown again). */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useApi } from "@/components/providers";
import { call, type Schemas } from "@/lib/api/client";
import { Empty } from "@/components/ui/states";
import { Time } from "@/components/ui/time";

type Source = Schemas["SourceRead"];
type Kind = Schemas["SourceCreate"]["kind"];
export const POLLED_KINDS: Kind[] = ["snmp", "redfish", "datadog", "splunk", "thousandeyes"];

function Health({ source }: { source: Source }) {
  const health = source.health;
  if (!source.enabled) return <span className="muted">disabled</span>;
  if (!health) return <span className="muted">not polled yet</span>;
  const failing = health.consecutive_failures > 0;
  return (
    <div>
      <span className={failing ? "badge sev-high" : "badge"}>{failing ? `failing ×${health.consecutive_failures}` : "ok"}</span>{" "}
      <span className="muted">last success</span> <Time iso={health.last_success_at} />
      {health.duration_s != null && <span className="muted"> · {health.duration_s.toFixed(2)} s</span>}
      {health.points != null && <span className="muted"> · {health.points} points</span>}
      {failing && health.last_error && <div className="error">{health.last_error}</div>}
    </div>
  );
}

function ConnectionSteps({ result }: { result: Schemas["ConnectionCheck"] }) {
  return (
    <ol aria-label="Connection test" className={result.ok ? "" : "error"}>
      {result.steps.map((step, i) => (
        <li key={i}><strong>{step.stage}</strong> {step.ok ? "✓" : "✗"} {step.message}</li>
      ))}
    </ol>
  );
}

function PollerRow({ source }: { source: Source }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const path = { params: { path: { source_id: source.id } } };
  const test = useMutation({ mutationFn: () => call(api.POST("/api/v1/sources/{source_id}/test", path)) });
  const toggle = useMutation({
    mutationFn: () => call(api.PATCH("/api/v1/sources/{source_id}", { ...path, body: { enabled: !source.enabled } })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["sources"] }),
  });
  return (
    <>
      <tr>
        <td>{source.name}</td>
        <td>{source.kind}</td>
        <td><code>{source.target}</code> <span className="muted">every {source.interval_s} s</span></td>
        <td><Health source={source} /></td>
        <td className="row">
          <button onClick={() => test.mutate()} disabled={test.isPending}>{test.isPending ? "Testing…" : "Test connection"}</button>
          <button onClick={() => toggle.mutate()} disabled={toggle.isPending}>{source.enabled ? "Disable" : "Enable"}</button>
          {(test.error || toggle.error) && <span className="error" role="alert">{(test.error ?? toggle.error)?.message}</span>}
        </td>
      </tr>
      {test.data && <tr><td colSpan={5}><ConnectionSteps result={test.data} /></td></tr>}
    </>
  );
}

/** A JSON object typed into the form's `field`; an empty box is an empty object. Errors name the field. */
export function parseObject(text: string, field: string): Record<string, string> {
  if (!text.trim()) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${field}: not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${field}: a JSON object`);
  return value as Record<string, string>;
}

function PollerForm() {
  const api = useApi();
  const queryClient = useQueryClient();
  const [problem, setProblem] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: (body: Schemas["SourceCreate"]) => call(api.POST("/api/v1/sources", { body })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["sources"] }),
  });
  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    try {
      setProblem(null);
      create.mutate({
        name: String(form.get("name")), kind: form.get("kind") as Kind, target: String(form.get("target")),
        interval_s: Number(form.get("interval_s")), config: parseObject(String(form.get("config")), "Settings"),
        credentials: parseObject(String(form.get("credentials")), "Credentials"),
      }, { onSuccess: () => formElement.reset() }); // the credentials leave the screen, and a second press adds nothing
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
    }
  }
  return (
    <form className="panel" onSubmit={submit} aria-label="New polled source">
      <div className="row">
        <label>Name<input name="name" required maxLength={100} placeholder="e.g. core-switch-1" /></label>
        <label>Kind<select name="kind" defaultValue="snmp">{POLLED_KINDS.map((k) => <option key={k}>{k}</option>)}</select></label>
        <label>Target<input name="target" required placeholder="host, or https://bmc.example.com" /></label>
        <label>Interval (s)<input name="interval_s" type="number" min={1} defaultValue={60} required /></label>
      </div>
      <div className="row">
        <label>Settings (JSON)<textarea name="config" rows={2} placeholder='{"port": 161}' /></label>
        <label>Credentials (JSON, never shown again)<textarea name="credentials" rows={2} placeholder='{"community": "…"}' /></label>
        <button className="primary" type="submit" disabled={create.isPending}>Add polled source</button>
      </div>
      {(problem || create.error) && <span className="error" role="alert">{problem ?? create.error?.message}</span>}
      {create.isSuccess && !problem && (
        <span role="status">Added {create.data.name}; its credentials are stored and not shown again.</span>
      )}
    </form>
  );
}

export function Pollers({ sources }: { sources: Source[] }) {
  return (
    <section aria-labelledby="pollers-title">
      <h2 id="pollers-title">Polled sources</h2>
      <PollerForm />
      <div className="panel">
        {sources.length === 0 ? <Empty>No polled sources yet: add one above.</Empty> : (
          <table aria-label="Polled sources">
            <thead><tr><th>Name</th><th>Kind</th><th>Target</th><th>Health</th><th><span className="muted">Actions</span></th></tr></thead>
            <tbody>{sources.map((s) => <PollerRow key={s.id} source={s} />)}</tbody>
          </table>
        )}
      </div>
    </section>
  );
}
