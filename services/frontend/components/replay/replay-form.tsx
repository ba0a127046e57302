"use client";
/** Starts a dry-run replay: a time range and the candidate changes (empty fields keep the worker's settings). */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import type { FormEvent } from "react";
import { useApi } from "@/components/providers";
import { call, type Schemas } from "@/lib/api/client";

type Changes = Schemas["ReplayChanges"];
type StartingState = Schemas["StartingState"];
const STARTING_STATES: [StartingState, string][] = [
  ["fresh", "Fresh: empty miner, cold detectors, no incidents"],
  ["snapshot", "Snapshot: templates, warmed detectors and open incidents at the start"],
];
const NUMBERS = [
  ["incident_window_s", "Log incident window (s)"],
  ["incident_alert_window_s", "Alert incident window (s)"],
  ["incident_correlation_window_s", "Correlation window (s)"],
  ["anomaly_alert_min_z", "Anomaly min z"],
  ["anomaly_alert_max_log10_p", "Anomaly max log10 p"],
] as const;

/** `datetime-local` value (local time, minutes) of a moment. */
export function localInput(at: Date): string {
  const local = new Date(at.getTime() - at.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

function rules(text: FormDataEntryValue | null, field: string): unknown[] | undefined {
  const raw = String(text ?? "").trim();
  if (!raw) return undefined;
  const parsed: unknown = JSON.parse(raw);
  if (!Array.isArray(parsed)) throw new Error(`${field}: a JSON list of rules`);
  return parsed;
}

export function changesOf(form: FormData): Changes {
  const changes: Record<string, unknown> = {};
  for (const [name] of NUMBERS) {
    const value = String(form.get(name) ?? "").trim();
    if (value) changes[name] = Number(value);
  }
  changes.log_rules = rules(form.get("log_rules"), "Log rules");
  changes.automation_rules = rules(form.get("automation_rules"), "Automation rules");
  return changes as Changes;
}

export function ReplayForm({ onStarted }: { onStarted: (id: string) => void }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const start = useMutation({
    mutationFn: (body: Schemas["ReplayRequest"]) => call(api.POST("/api/v1/replay", { body })),
    onSuccess: (run) => {
      onStarted(run.id);
      void queryClient.invalidateQueries({ queryKey: ["replays"] });
    },
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    try {
      start.mutate({
        start: new Date(String(form.get("start"))).toISOString(),
        end: new Date(String(form.get("end"))).toISOString(),
        metrics: form.get("metrics") === "on",
        starting_state: String(form.get("starting_state")) as StartingState,
        changes: changesOf(form),
      });
    } catch (error) {
      start.reset();
      window.alert((error as Error).message);
    }
  };
  // The input holds minutes: end at the next one, so the default hour holds what happened in this minute too.
  const end = new Date(Math.ceil(Date.now() / 60_000) * 60_000);
  return (
    <form className="panel" onSubmit={submit} aria-label="New replay">
      <h2>Replay a range</h2>
      <div className="row">
        <label>From<input type="datetime-local" name="start" required defaultValue={localInput(new Date(end.getTime() - 3_600_000))} /></label>
        <label>To<input type="datetime-local" name="end" required defaultValue={localInput(end)} /></label>
        <label><input type="checkbox" name="metrics" defaultChecked /> Metrics from InfluxDB</label>
        <label>Starting state<select name="starting_state" defaultValue="fresh">
          {STARTING_STATES.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
        </select></label>
      </div>
      <fieldset className="row" aria-label="Candidate settings">
        {NUMBERS.map(([name, label]) => (
          <label key={name}>{label}<input name={name} inputMode="decimal" size={8} placeholder="current" /></label>
        ))}
      </fieldset>
      <div className="row">
        <label>Log rules (JSON list)<textarea name="log_rules" rows={3} cols={50}
          placeholder='[{"name": "pg-fatal", "category": "db", "severity": "high", "template": "FATAL"}]' /></label>
        <label>Automation rules (JSON list)<textarea name="automation_rules" rows={3} cols={50} placeholder="the enabled rules" /></label>
      </div>
      <div className="row">
        <button className="primary" type="submit" disabled={start.isPending}>Start replay</button>
        {start.error && <span className="error" role="alert">{start.error.message}</span>}
      </div>
    </form>
  );
}
