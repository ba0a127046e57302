"use client";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useApi } from "@/components/providers";
import { call, type Schemas } from "@/lib/api/client";
import { Snippets } from "@/components/sources/snippets";
import { CopyButton } from "@/components/ui/copy-button";

const KINDS: Schemas["SourceCreate"]["kind"][] = ["telegraf", "generic", "alertmanager", "sentry", "logs"];

function Created({ source, done }: { source: Schemas["SourceCreated"]; done: () => void }) {
  return (
    <section className="panel" aria-labelledby="created-title">
      <h2 id="created-title">Source “{source.name}” created</h2>
      {source.token && (
        <>
          <p><strong>Copy the token now: it is not shown again.</strong></p>
          <div className="row">
            <code data-testid="source-token">{source.token}</code>
            <CopyButton text={source.token} label="Copy token" />
          </div>
        </>
      )}
      {source.snippets && <Snippets snippets={source.snippets} />}
      <button onClick={done}>Done</button>
    </section>
  );
}

export function SourceForm() {
  const api = useApi();
  const queryClient = useQueryClient();
  const [created, setCreated] = useState<Schemas["SourceCreated"] | null>(null);
  const create = useMutation({
    mutationFn: (body: Schemas["SourceCreate"]) => call(api.POST("/api/v1/sources", { body })),
    onSuccess: (source) => {
      setCreated(source);
      void queryClient.invalidateQueries({ queryKey: ["sources"] });
    },
  });
  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    create.mutate({ name: String(form.get("name")), kind: form.get("kind") as Schemas["SourceCreate"]["kind"] });
  }
  if (created) return <Created source={created} done={() => setCreated(null)} />;
  return (
    <form className="panel row" onSubmit={submit} aria-label="New source">
      <label>Name<input name="name" required maxLength={100} placeholder="e.g. web-telegraf" /></label>
      <label>Kind
        <select name="kind" defaultValue="telegraf">{KINDS.map((k) => <option key={k}>{k}</option>)}</select>
      </label>
      <button className="primary" type="submit" disabled={create.isPending}>Create source</button>
      {create.error && <span className="error" role="alert">{create.error.message}</span>}
    </form>
  );
}
