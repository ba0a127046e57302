"use client";
/** Notifications: silences (operators create them with matchers, an end and a comment, and expire them), the
 * receivers of notifications.yml with what they were sent, and the latest notifications. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { FormEvent } from "react";
import { useApi } from "@/components/providers";
import { useCan } from "@/components/auth/use-can";
import { call, type Schemas } from "@/lib/api/client";
import { QueryView } from "@/components/ui/states";
import { Time } from "@/components/ui/time";

type Silence = Schemas["SilenceRead"];
type Matcher = Schemas["Matcher"];
const FACTS: Matcher["name"][] = ["host", "service", "severity", "title"];

const describe = (matchers: Matcher[]) =>
  matchers.map((m) => `${m.name} ${m.negate ? "!=" : "="} ${m.value}`).join(", ");

function NewSilence() {
  const api = useApi();
  const queryClient = useQueryClient();
  const create = useMutation({
    mutationFn: (body: Schemas["SilenceCreate"]) => call(api.POST("/api/v1/notifications/silences", { body })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["silences"] }),
  });
  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const hours = Number(form.get("hours"));
    const matcher: Matcher = { name: form.get("name") as Matcher["name"], value: String(form.get("value")),
                               negate: form.get("negate") === "on" };
    create.mutate({ matchers: [matcher], comment: String(form.get("comment")),
                    ends_at: new Date(Date.now() + hours * 3_600_000).toISOString() },
                  { onSuccess: () => (event.target as HTMLFormElement).reset() });
  }
  return (
    <form className="panel row" onSubmit={submit} aria-label="New silence">
      <label>Fact<select name="name" defaultValue="host">{FACTS.map((f) => <option key={f}>{f}</option>)}</select></label>
      <label>Matches (glob)<input name="value" required placeholder="db-*" autoComplete="off" /></label>
      <label><input name="negate" type="checkbox" /> does not match</label>
      <label>For (hours)<input name="hours" type="number" min="0.25" max="2160" step="0.25" defaultValue="2" required /></label>
      <label>Comment<input name="comment" required autoComplete="off" /></label>
      <button className="primary" type="submit" disabled={create.isPending}>Create silence</button>
      {create.error && <span className="error" role="alert">{create.error.message}</span>}
    </form>
  );
}

function SilenceRow({ silence: s }: { silence: Silence }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const canExpire = useCan("operator");
  const expire = useMutation({
    mutationFn: () => call(api.POST("/api/v1/notifications/silences/{silence_id}/expire",
                                    { params: { path: { silence_id: s.id } } })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["silences"] }),
  });
  return (
    <tr>
      <td><code>{describe(s.matchers)}</code></td>
      <td>{s.state}{s.expired_by ? ` (by ${s.expired_by})` : ""}</td>
      <td><Time iso={s.starts_at} /></td>
      <td><Time iso={s.ends_at} /></td>
      <td>{s.author}</td>
      <td>{s.comment}</td>
      <td>
        {canExpire && s.state !== "expired" && (
          <button onClick={() => expire.mutate()} disabled={expire.isPending}
            aria-label={`Expire silence ${describe(s.matchers)}`}>Expire</button>
        )}
        {expire.error && <span className="error" role="alert">{expire.error.message}</span>}
      </td>
    </tr>
  );
}

function Silences({ silences }: { silences: Silence[] }) {
  return (
    <table>
      <thead><tr><th>Matchers</th><th>State</th><th>From</th><th>Until</th><th>Author</th><th>Comment</th><th /></tr></thead>
      <tbody>{silences.map((s) => <SilenceRow key={s.id} silence={s} />)}</tbody>
    </table>
  );
}

function Receivers({ receivers }: { receivers: Schemas["ReceiverRead"][] }) {
  return (
    <table>
      <thead><tr><th>Receiver</th><th>Kind</th><th>Target</th><th>Routes</th><th>Sent / failed</th><th>Last sent</th></tr></thead>
      <tbody>
        {receivers.map((r) => (
          <tr key={r.name}>
            <td>{r.name}</td>
            <td>{r.kind}</td>
            <td><code>{r.target}</code></td>
            <td>{r.routes.map((route, i) => <div key={i}><code>{JSON.stringify(route)}</code></div>)}</td>
            <td>{r.sent} / {r.failed}</td>
            <td><Time iso={r.last_sent_at} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Sent({ notifications }: { notifications: Schemas["NotificationRead"][] }) {
  return (
    <table>
      <thead><tr><th>When</th><th>Receiver</th><th>Status</th><th>Subject</th><th>Incidents</th></tr></thead>
      <tbody>
        {notifications.map((n) => (
          <tr key={n.id}>
            <td><Time iso={n.created_at} /></td>
            <td>{n.receiver}</td>
            <td>{n.status}{n.detail && <div className="muted">{n.detail}</div>}</td>
            <td>{n.subject}</td>
            <td>{n.incident_ids.length}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function NotificationsView() {
  const api = useApi();
  const canSilence = useCan("operator");
  const silences = useQuery({ queryKey: ["silences"], queryFn: () => call(api.GET("/api/v1/notifications/silences")) });
  const receivers = useQuery({ queryKey: ["receivers"],
                               queryFn: () => call(api.GET("/api/v1/notifications/receivers")) });
  const sent = useQuery({ queryKey: ["notifications"], queryFn: () => call(api.GET("/api/v1/notifications")),
                          refetchInterval: 10_000 });
  return (
    <>
      <h1>Notifications</h1>
      <section className="panel" aria-labelledby="silences">
        <h2 id="silences">Silences</h2>
        {canSilence && <NewSilence />}
        <QueryView query={silences} what="silences" isEmpty={(d) => d.length === 0} empty="No silence.">
          {(data) => <Silences silences={data} />}
        </QueryView>
      </section>
      <section className="panel" aria-labelledby="receivers">
        <h2 id="receivers">Receivers</h2>
        <QueryView query={receivers} what="receivers" isEmpty={(d) => d.length === 0}
          empty="No receiver: the worker's notifications.yml (NOTIFICATIONS_PATH) names none.">
          {(data) => <Receivers receivers={data} />}
        </QueryView>
      </section>
      <section className="panel" aria-labelledby="sent">
        <h2 id="sent">Latest notifications</h2>
        <QueryView query={sent} what="notifications" isEmpty={(d) => d.length === 0} empty="Nothing sent yet.">
          {(data) => <Sent notifications={data} />}
        </QueryView>
      </section>
    </>
  );
}
