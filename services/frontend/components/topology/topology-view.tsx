"use client";
/** The topology: services (what they depend on, where they run) and hosts (what runs there), each with its
 * open incidents and labels (environment, release); learned from the labels of arriving signals and metrics, declared through the API or the
 * topology file. Admins declare a dependency here and remove declared edges. */
import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { FormEvent } from "react";
import { useApi } from "@/components/providers";
import { useCan } from "@/components/auth/use-can";
import { call, type Schemas } from "@/lib/api/client";
import { QueryView } from "@/components/ui/states";

type Topology = Schemas["TopologyRead"];
type Edge = Schemas["TopologyEdgeRead"];

function targetsOf(edges: Edge[], kind: string, source: string): Edge[] {
  return edges.filter((e) => e.kind === kind && e.source === source);
}

function OpenIncidents({ count }: { count: number }) {
  return count > 0 ? <span className="badge sev-high">{count} open</span> : <span className="muted">none</span>;
}

function Labels({ labels }: { labels: Record<string, string> }) {
  const entries = Object.entries(labels);
  if (entries.length === 0) return <span className="muted">—</span>;
  return <>{entries.map(([k, v]) => <span key={k} className="badge">{k}={v}</span>)}</>;
}

function EdgeItem({ edge: e, isAdmin }: { edge: Edge; isAdmin: boolean }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const remove = useMutation({
    mutationFn: () => call(api.DELETE("/api/v1/topology/edges/{edge_id}", { params: { path: { edge_id: e.id } } })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["topology"] }),
  });
  return (
    <span className="row" style={{ display: "inline-flex" }}>
      {e.target} <span className="muted">({e.origin})</span>
      {isAdmin && e.origin === "declared" && (
        <button onClick={() => remove.mutate()} disabled={remove.isPending}
          aria-label={`Remove ${e.source} ${e.kind.replace("_", " ")} ${e.target}`}>×</button>
      )}
      {remove.error && <span className="error" role="alert">{remove.error.message}</span>}
    </span>
  );
}

function EdgeList({ edges, isAdmin }: { edges: Edge[]; isAdmin: boolean }) {
  if (edges.length === 0) return <span className="muted">—</span>;
  return <>{edges.map((e) => <EdgeItem key={e.id} edge={e} isAdmin={isAdmin} />)}</>;
}

function Services({ topology, isAdmin }: { topology: Topology; isAdmin: boolean }) {
  const services = topology.nodes.filter((n) => n.kind === "service");
  if (services.length === 0) return <p className="muted">No services yet: learned from labels, or declared.</p>;
  return (
    <table aria-label="Services">
      <thead><tr><th>Service</th><th>Open incidents</th><th>Depends on</th><th>Runs on</th><th>Labels</th></tr></thead>
      <tbody>
        {services.map((s) => (
          <tr key={s.name}>
            <td>{s.name}</td>
            <td><OpenIncidents count={s.open_incidents} /></td>
            <td><EdgeList edges={targetsOf(topology.edges, "depends_on", s.name)} isAdmin={isAdmin} /></td>
            <td><EdgeList edges={targetsOf(topology.edges, "runs_on", s.name)} isAdmin={isAdmin} /></td>
            <td><Labels labels={s.labels ?? {}} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Hosts({ topology }: { topology: Topology }) {
  const hosts = topology.nodes.filter((n) => n.kind === "host");
  if (hosts.length === 0) return <p className="muted">No hosts yet.</p>;
  return (
    <table aria-label="Hosts">
      <thead><tr><th>Host</th><th>Open incidents</th><th>Runs</th><th>Labels</th></tr></thead>
      <tbody>
        {hosts.map((h) => (
          <tr key={h.name}>
            <td><Link href={`/fleet/${encodeURIComponent(h.name)}`}>{h.name}</Link></td>
            <td><OpenIncidents count={h.open_incidents} /></td>
            <td>{topology.edges.filter((e) => e.kind === "runs_on" && e.target === h.name).map((e) => e.source).join(", ") || "—"}</td>
            <td><Labels labels={h.labels ?? {}} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function NewDependency() {
  const api = useApi();
  const queryClient = useQueryClient();
  const declare = useMutation({
    mutationFn: (body: Schemas["TopologyEdgeCreate"]) => call(api.POST("/api/v1/topology/edges", { body })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["topology"] }),
  });
  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const formElement = event.currentTarget;
    declare.mutate({ kind: "depends_on", source: String(form.get("source")), target: String(form.get("target")) },
      { onSuccess: () => formElement.reset() });
  }
  return (
    <form className="panel row" onSubmit={submit} aria-label="New dependency">
      <label>Service<input name="source" required maxLength={255} autoComplete="off" /></label>
      <label>depends on<input name="target" required maxLength={255} autoComplete="off" /></label>
      <button className="primary" type="submit" disabled={declare.isPending}>Add dependency</button>
      {declare.error && <span className="error" role="alert">{declare.error.message}</span>}
    </form>
  );
}

export function TopologyView() {
  const api = useApi();
  const isAdmin = useCan("admin");
  const topology = useQuery({ queryKey: ["topology"], queryFn: () => call(api.GET("/api/v1/topology")) });
  return (
    <>
      <h1>Topology</h1>
      {isAdmin && <NewDependency />}
      <QueryView query={topology} what="the topology" isEmpty={(t) => t.nodes.length === 0}
        empty="No services or hosts yet: they are learned from arriving signals and metrics, or declared.">
        {(data) => (
          <div className="grid">
            <section className="panel" aria-labelledby="services"><h2 id="services">Services</h2><Services topology={data} isAdmin={isAdmin} /></section>
            <section className="panel" aria-labelledby="hosts"><h2 id="hosts">Hosts</h2><Hosts topology={data} /></section>
          </div>
        )}
      </QueryView>
    </>
  );
}
