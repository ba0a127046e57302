import type { Schemas } from "@/lib/api/client";
import { CopyButton } from "@/components/ui/copy-button";

/** Ready-to-paste configuration for a source (Telegraf outputs.http, Sentry DSN, Alertmanager receiver, curl). */
export function Snippets({ snippets }: { snippets: Schemas["SourceSnippets"] }) {
  return (
    <div>
      {!snippets.token_included && (
        <p className="muted">The token is shown only when the source is created; replace the placeholder with it.</p>
      )}
      {snippets.items.map((s) => (
        <div key={s.name} className="panel">
          <div className="spread">
            <h3 style={{ margin: 0, fontSize: "0.95rem" }}>{s.title}</h3>
            <CopyButton text={s.content} label={`Copy ${s.title}`} />
          </div>
          <pre aria-label={s.title}>{s.content}</pre>
        </div>
      ))}
    </div>
  );
}
