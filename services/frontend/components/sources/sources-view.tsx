"use client";
/** Integrations (admin): sources with their token prefix and state; create (token shown once, with snippets),
 * show the setup snippets again (without the token), revoke. Polled sources, with their health, below. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useApi } from "@/components/providers";
import { useCan } from "@/components/auth/use-can";
import { call, type Schemas } from "@/lib/api/client";
import { Pollers, POLLED_KINDS } from "@/components/sources/pollers";
import { SourceForm } from "@/components/sources/source-form";
import { Snippets } from "@/components/sources/snippets";
import { Empty, QueryView } from "@/components/ui/states";
import { Time } from "@/components/ui/time";

function SetupSnippets({ id }: { id: string }) {
  const api = useApi();
  const snippets = useQuery({
    queryKey: ["source-snippets", id],
    queryFn: () => call(api.GET("/api/v1/sources/{source_id}/snippets", { params: { path: { source_id: id } } })),
  });
  return <QueryView query={snippets} what="snippets">{(s) => <Snippets snippets={s} />}</QueryView>;
}

function SourceRow({ source }: { source: Schemas["SourceRead"] }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const revoke = useMutation({
    mutationFn: () => call(api.DELETE("/api/v1/sources/{source_id}", { params: { path: { source_id: source.id } } })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["sources"] }),
  });
  return (
    <>
      <tr>
        <td>{source.name}</td>
        <td>{source.kind}</td>
        <td><code>{source.token_prefix}…</code></td>
        <td><Time iso={source.created_at} /></td>
        <td>{source.revoked_at ? <span className="muted">revoked <Time iso={source.revoked_at} /></span> : "active"}</td>
        <td className="row">
          <button onClick={() => setOpen(!open)} aria-expanded={open}>{open ? "Hide setup" : "Setup"}</button>
          {!source.revoked_at && (
            <button className="danger" disabled={revoke.isPending}
              onClick={() => window.confirm(`Revoke ${source.name}? Its token stops working at once.`) && revoke.mutate()}>Revoke</button>
          )}
          {revoke.error && <span className="error" role="alert">{revoke.error.message}</span>}
        </td>
      </tr>
      {open && <tr><td colSpan={6}><SetupSnippets id={source.id} /></td></tr>}
    </>
  );
}

function isPushed(source: Schemas["SourceRead"]): boolean {
  return !POLLED_KINDS.includes(source.kind);
}

export function SourcesView() {
  const api = useApi();
  const isAdmin = useCan("admin");
  const sources = useQuery({
    queryKey: ["sources"],
    enabled: isAdmin,
    queryFn: () => call(api.GET("/api/v1/sources")),
    refetchInterval: 10_000,  // polled sources' health changes with every poll
  });
  if (!isAdmin) return <Empty>Sources are managed by admins.</Empty>;
  return (
    <>
      <h1>Sources</h1>
      <SourceForm />
      <div className="panel">
        <QueryView query={sources} what="sources" isEmpty={(s) => !s.some(isPushed)} empty="No sources yet: create one above.">
          {(items) => (
            <table>
              <thead><tr><th>Name</th><th>Kind</th><th>Token</th><th>Created</th><th>State</th><th><span className="muted">Actions</span></th></tr></thead>
              <tbody>{items.filter(isPushed).map((s) => <SourceRow key={s.id} source={s} />)}</tbody>
            </table>
          )}
        </QueryView>
      </div>
      {sources.data && <Pollers sources={sources.data.filter((s) => !isPushed(s))} />}
    </>
  );
}
