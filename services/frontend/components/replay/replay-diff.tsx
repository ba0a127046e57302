/** A finished replay: what would have fired against what did, the difference counts and the list of changes. */
import type { Schemas } from "@/lib/api/client";

type Result = Schemas["ReplayResult"];
type Change = Record<string, unknown>;
interface Summary { id: string; title: string; events: number; hosts: string[] }

const DIFF_LABELS: [keyof Result["diff"], string][] = [
  ["created", "Incidents created"], ["not_created", "Incidents not created"], ["merged", "Merged"], ["split", "Split"],
  ["alerts_added", "Alerts added"], ["alerts_removed", "Alerts removed"],
  ["automations_added", "Automations added"], ["automations_removed", "Automations removed"],
];

function summary(incident: unknown): string {
  const s = incident as Summary;
  return `${s.title} (${s.events} events${s.hosts.length ? `, ${s.hosts.join(", ")}` : ""})`;
}

/** One line per change, in words. */
export function describe(change: Change): string {
  switch (change.change) {
    case "merged":
      return `${summary(change.incident)} would merge ${(change.from as unknown[]).map(summary).join(" + ")}`;
    case "split":
      return `${summary(change.incident)} would split into ${(change.into as unknown[]).map(summary).join(" | ")}`;
    case "created":
    case "not_created":
      return summary(change.incident);
    case "alert_added":
    case "alert_removed": {
      const alert = change.alert as { title: string; host: string | null; at: string };
      return `${alert.title}${alert.host ? ` on ${alert.host}` : ""} at ${alert.at}`;
    }
    default:
      return `rule ${String(change.rule)}: would run ${String(change.would)}, did ${String(change.did)}`;
  }
}

/** The starting state in words, with what it held. */
export function startedFrom(state: Result["starting_state"]): string {
  if (state.kind === "fresh") return `fresh (${state.description})`;
  return `snapshot: ${state.templates} templates, ${state.prototypes} prototypes, ${state.warmup_points} warm-up ` +
    `metric points, ${state.incidents} open incidents, ${state.resolved_incidents} recently resolved`;
}

export function ReplayDiff({ result }: { result: Result }) {
  const rows = [["Incidents", "incidents"], ["Alerts", "alerts"], ["Automations", "automations"]] as const;
  return (
    <>
      <p className="muted">
        Starting state: {startedFrom(result.starting_state)}. Inputs: {result.inputs.alerts} alerts, {result.inputs.log_envelopes} log
        batches, {result.inputs.metric_points} metric points{result.inputs.truncated ? " (cut at the event limit)" : ""}.
      </p>
      <table aria-label="Would against did">
        <thead><tr><th></th><th>Would fire</th><th>Did fire</th></tr></thead>
        <tbody>
          {rows.map(([label, key]) => (
            <tr key={key}><th scope="row">{label}</th><td>{result.would[key]}</td><td>{result.did[key]}</td></tr>
          ))}
        </tbody>
      </table>
      <dl className="row" aria-label="Differences">
        {DIFF_LABELS.map(([key, label]) => (
          <div key={key}><dt>{label}</dt><dd>{result.diff[key]}</dd></div>
        ))}
      </dl>
      {result.changes.length === 0 ? <p>No difference.</p> : (
        <table aria-label="Changes">
          <thead><tr><th>Change</th><th>What</th></tr></thead>
          <tbody>
            {result.changes.map((change, i) => (
              <tr key={i}><td>{String(change.change).replace("_", " ")}</td><td>{describe(change)}</td></tr>
            ))}
          </tbody>
        </table>
      )}
      {result.changes_truncated && <p className="muted">Only the first changes are listed.</p>}
    </>
  );
}
