/** The incident's enrichment (the worker's `details.enrichment`): summary, probable cause with its evidence,
 * impact, next checks and a severity recommendation, whether an LLM or the rules wrote it, and the similar
 * past incidents it found (how each was resolved: by whom, which actions, how long). */
import Link from "next/link";
import type { Schemas } from "@/lib/api/client";

interface PastIncident {
  id: string;
  title: string;
  minutes_to_resolve: number | null;
  resolved_by: string;
  actions: string[];
}

interface Enrichment {
  summary: string;
  probable_cause: string;
  evidence: string[];
  impact: string;
  next_checks: string[];
  severity_recommendation: string;
  mode: string;
  similar: PastIncident[];
}

function enrichmentOf(details: Schemas["IncidentRead"]["details"]): Enrichment | null {
  const value = (details as { enrichment?: Partial<Enrichment> }).enrichment;
  if (!value || typeof value.summary !== "string") return null;
  return { probable_cause: "", evidence: [], impact: "", next_checks: [], severity_recommendation: "", mode: "", similar: [],
    ...value } as Enrichment;
}

export function IncidentExplanation({ incident }: { incident: Schemas["IncidentRead"] }) {
  const enrichment = enrichmentOf(incident.details);
  if (!enrichment) return incident.summary ? <p>{incident.summary}</p> : null;
  return (
    <section className="panel" aria-labelledby="explanation">
      <h2 id="explanation">Explanation <small className="muted">by {enrichment.mode === "llm" ? "the LLM" : "rules"}</small></h2>
      <p>{enrichment.summary}</p>
      <p><strong>Probable cause:</strong> {enrichment.probable_cause}</p>
      <ul aria-label="Evidence">{enrichment.evidence.map((line) => <li key={line}><code>{line}</code></li>)}</ul>
      <p><strong>Impact:</strong> {enrichment.impact} · <strong>Recommended severity:</strong> {enrichment.severity_recommendation}</p>
      <ul aria-label="Next checks">{enrichment.next_checks.map((check) => <li key={check}>{check}</li>)}</ul>
      {enrichment.similar.length > 0 && (
        <ul aria-label="Similar past incidents">
          {enrichment.similar.map((p) => (
            <li key={p.id}>
              <Link href={`/incidents/${p.id}`}>{p.title}</Link>: resolved in {p.minutes_to_resolve ?? "?"} min by{" "}
              {p.resolved_by}{p.actions.length > 0 && <>, actions: {p.actions.join(", ")}</>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
