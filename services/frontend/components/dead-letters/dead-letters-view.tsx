"use client";
/** Dead letters (admin): entries worker tasks gave up on, per stream; inspect one and re-drive it onto its stream. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { useCan } from "@/components/auth/use-can";
import { call, type Schemas } from "@/lib/api/client";
import { useUrlParams } from "@/lib/url-state";
import { Empty, QueryView } from "@/components/ui/states";

function Letter({ letter }: { letter: Schemas["DeadLetterRead"] }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const redrive = useMutation({
    mutationFn: () => call(api.POST("/api/v1/dead-letters/{stream}/{entry_id}/redrive", {
      params: { path: { stream: letter.stream, entry_id: letter.id } } })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["dead-letters"] }),
  });
  const envelope = letter.envelope as { type?: string; source?: string } | null;
  return (
    <tr>
      <td><code>{letter.id}</code></td>
      <td>{letter.group}</td>
      <td>{envelope ? `${envelope.type} from ${envelope.source}` : "undecodable"}</td>
      <td>
        <details>
          <summary>{letter.error.slice(0, 120)}</summary>
          <pre>{JSON.stringify(letter.envelope ?? letter.raw, null, 1)}</pre>
        </details>
      </td>
      <td>
        <button onClick={() => window.confirm("Put this entry back on its stream?") && redrive.mutate()}
          disabled={redrive.isPending}>Re-drive</button>
        {redrive.error && <span className="error" role="alert">{redrive.error.message}</span>}
      </td>
    </tr>
  );
}

export function DeadLettersView() {
  const api = useApi();
  const isAdmin = useCan("admin");
  const [values, set] = useUrlParams(["stream"] as const);
  const streams = useQuery({
    queryKey: ["dead-letters"],
    enabled: isAdmin,
    queryFn: () => call(api.GET("/api/v1/dead-letters")),
  });
  const stream = values.stream || streams.data?.find((s) => s.count > 0)?.stream || "";
  const letters = useQuery({
    queryKey: ["dead-letters", stream],
    enabled: isAdmin && Boolean(stream),
    queryFn: () => call(api.GET("/api/v1/dead-letters/{stream}", { params: { path: { stream }, query: { limit: 100 } } })),
  });
  if (!isAdmin) return <Empty>Dead letters are for admins.</Empty>;
  return (
    <>
      <h1>Dead letters</h1>
      <div className="panel">
        <QueryView query={streams} what="streams">
          {(data) => (
            <label>Stream
              <select value={stream} onChange={(e) => set("stream", e.target.value)}>
                {!stream && <option value="">—</option>}
                {data.map((s) => <option key={s.stream} value={s.stream}>{s.stream} ({s.count})</option>)}
              </select>
            </label>
          )}
        </QueryView>
      </div>
      <div className="panel">
        {!stream ? streams.data && <Empty>No dead letters.</Empty> : (
          <QueryView query={letters} what="dead letters" isEmpty={(d) => d.items.length === 0}>
            {(data) => (
              <table>
                <thead><tr><th>Entry</th><th>Task</th><th>Event</th><th>Error</th><th></th></tr></thead>
                <tbody>{data.items.map((letter) => <Letter key={letter.id} letter={letter} />)}</tbody>
              </table>
            )}
          </QueryView>
        )}
      </div>
    </>
  );
}
