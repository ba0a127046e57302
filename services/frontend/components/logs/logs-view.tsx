"use client";
/** Logs: templates searched by meaning, prototypes (families of templates) and counts over time. */
import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useApi } from "@/components/providers";
import { call, type Schemas } from "@/lib/api/client";
import { countPoints } from "@/lib/charts";
import { useUrlParams } from "@/lib/url-state";
import { SeverityBadge } from "@/components/ui/badges";
import { QueryView } from "@/components/ui/states";
import { Time } from "@/components/ui/time";
import { Sparkline } from "@/components/ui/time-chart";

function TemplateRows({ templates, distances }: { templates: Schemas["TemplateRead"][]; distances?: number[] }) {
  return (
    <table>
      <thead>
        <tr><th>Severity</th><th>Template and sample</th><th className="num">Count</th><th>Trend</th><th>Last seen</th>{distances && <th className="num">Distance</th>}</tr>
      </thead>
      <tbody>
        {templates.map((t, i) => (
          <tr key={t.id}>
            <td><SeverityBadge severity={t.severity} /></td>
            <td><code>{t.template}</code><div className="muted">{t.sample}</div></td>
            <td className="num">{t.count}</td>
            <td><Sparkline data={countPoints(t.trend)} label={`Count of template over time`} /></td>
            <td><Time iso={t.last_seen_at} /></td>
            {distances && <td className="num">{distances[i]?.toFixed(3)}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Search({ q }: { q: string }) {
  const api = useApi();
  const result = useQuery({
    queryKey: ["log-search", q],
    queryFn: () => call(api.GET("/api/v1/logs/search", { params: { query: { q, limit: 20 } } })),
  });
  return (
    <QueryView query={result} what="matching templates" isEmpty={(r) => r.hits.length === 0} empty={`No template resembles “${q}”.`}>
      {(r) => <TemplateRows templates={r.hits.map((h) => h.template)} distances={r.hits.map((h) => h.distance)} />}
    </QueryView>
  );
}

function Prototypes({ chosen, choose }: { chosen: string; choose: (id: string) => void }) {
  const api = useApi();
  const prototypes = useQuery({
    queryKey: ["log-prototypes"],
    queryFn: () => call(api.GET("/api/v1/logs/prototypes", { params: { query: { hours: 24, limit: 30 } } })),
  });
  return (
    <QueryView query={prototypes} what="prototypes" isEmpty={(p) => p.length === 0} empty="No log prototypes in the last 24 hours.">
      {(items) => (
        <ul style={{ listStyle: "none", padding: 0, margin: 0 }}>
          {items.map((p) => (
            <li key={p.id} className="spread">
              <button aria-pressed={chosen === p.id} onClick={() => choose(chosen === p.id ? "" : p.id)}>{p.title}</button>
              <span className="muted">{p.count} lines · {p.template_count} templates</span>
              <Sparkline data={countPoints(p.trend)} label={`Lines of ${p.title} over time`} />
            </li>
          ))}
        </ul>
      )}
    </QueryView>
  );
}

function Templates({ prototype }: { prototype: string }) {
  const api = useApi();
  const templates = useQuery({
    queryKey: ["log-templates", prototype],
    queryFn: () => call(api.GET("/api/v1/logs/templates", { params: { query: { prototype_id: prototype || undefined, hours: 24, limit: 50 } } })),
  });
  return (
    <QueryView query={templates} what="templates" isEmpty={(t) => t.items.length === 0} empty="No error templates in the last 24 hours.">
      {(t) => <TemplateRows templates={t.items} />}
    </QueryView>
  );
}

/** The search box, starting from the URL's query (the view gives it a new key when the URL's query changes, on
 * back and forward too). */
function SearchForm({ q, search }: { q: string; search: (q: string) => void }) {
  const [draft, setDraft] = useState(q);
  function submit(event: FormEvent) {
    event.preventDefault();
    search(draft.trim());
  }
  return (
    <form className="panel row" onSubmit={submit} role="search">
      <label style={{ flex: 1 }}>Search templates by meaning
        <input value={draft} onChange={(e) => setDraft(e.target.value)} placeholder="e.g. disk full, connection refused" />
      </label>
      <button className="primary" type="submit">Search</button>
    </form>
  );
}

export function LogsView() {
  const [values, set] = useUrlParams(["q", "prototype"] as const);
  return (
    <>
      <h1>Logs</h1>
      <SearchForm key={values.q} q={values.q} search={(q) => set("q", q)} />
      {values.q && <section className="panel" aria-label="Search results"><h2>Closest templates</h2><Search q={values.q} /></section>}
      <div className="grid" style={{ gridTemplateColumns: "minmax(280px, 1fr) 2fr" }}>
        <section className="panel" aria-labelledby="prototypes"><h2 id="prototypes">Prototypes</h2>
          <Prototypes chosen={values.prototype} choose={(id) => set("prototype", id)} /></section>
        <section className="panel" aria-labelledby="templates"><h2 id="templates">Templates, last 24 h</h2>
          <Templates prototype={values.prototype} /></section>
      </div>
    </>
  );
}
