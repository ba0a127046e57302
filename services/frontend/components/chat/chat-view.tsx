"use client";
/** Chat (viewer): questions about incidents, alerts, hosts, metrics, logs and capacity, answered from the
 * platform's own data as it is written (streamed); each answer links to what it cites. Follow-ups continue the
 * conversation the API keeps for the user. `compact`: the side panel every page has (no page heading). */
import Link from "next/link";
import { useState, type FormEvent } from "react";
import { useMutation } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import type { Schemas } from "@/lib/api/client";
import { answerBlocks } from "@/components/chat/blocks";
import { openChatStream, readChatEvents } from "@/components/chat/stream";

type Answer = Schemas["ChatAnswer"];
interface Turn {
  question: string;
  text: string; // as streamed so far; the answer's own text once it arrived
  answer?: Answer;
}

const EXAMPLES = ["What is wrong with web-3?", "Which disks fill up this week?", "How noisy was alertmanager yesterday?"];

/** The answer as it streams in; once it arrived whole, its paragraphs and its Markdown tables. */
function AnswerText({ text, done }: { text: string; done: boolean }) {
  if (!done) return <pre>{text || "…"}</pre>;
  return answerBlocks(text).map((block, b) => block.kind === "text" ? <p key={b} className="chat-text">{block.text}</p> : (
    <div key={b} className="chat-table">
      <table>
        <thead><tr>{block.head.map((cell, i) => <th key={i} scope="col">{cell}</th>)}</tr></thead>
        <tbody>{block.rows.map((row, r) => <tr key={r}>{row.map((cell, i) => <td key={i}>{cell}</td>)}</tr>)}</tbody>
      </table>
    </div>
  ));
}

function Citations({ answer }: { answer: Answer }) {
  if (answer.citations.length === 0) return null;
  return (
    <ul className="row citations" aria-label="Cited">
      {answer.citations.map((c) => (
        <li key={`${c.kind}:${c.id}`}>
          <Link href={c.link}>{c.kind} {c.kind === "host" ? c.id : c.title}</Link>
        </li>
      ))}
    </ul>
  );
}

/** Automations that match an incident the answer cites: proposed with a link to where an operator runs or
 * approves them; the chat runs none. */
function Proposals({ answer }: { answer: Answer }) {
  const proposals = answer.proposals ?? [];
  if (proposals.length === 0) return null;
  return (
    <ul className="citations" aria-label="Proposed automations">
      {proposals.map((p) => (
        <li key={p.rule}>
          Proposed: <Link href={p.link}>automation {p.rule}</Link> ({p.action}) for {p.target}
          {p.awaiting_run_id ? ", a run awaits approval" : p.needs_approval ? ", runs need an operator's approval" : ""}
        </li>
      ))}
    </ul>
  );
}

export function ChatView({ compact = false }: { compact?: boolean }) {
  const api = useApi();
  const [question, setQuestion] = useState("");
  const [turns, setTurns] = useState<Turn[]>([]);
  const update = (change: (turn: Turn) => Turn) =>
    setTurns((previous) => previous.map((turn, i) => (i === previous.length - 1 ? change(turn) : turn)));
  const ask = useMutation({
    mutationFn: async (q: string) => {
      const conversation = turns.findLast((turn) => turn.answer)?.answer?.conversation_id ?? null;
      setTurns((previous) => [...previous, { question: q, text: "" }]);
      const body = await openChatStream(api, { question: q, conversation_id: conversation });
      await readChatEvents(body, (e) =>
        update((turn) => (e.event === "delta" ? { ...turn, text: turn.text + e.data.text }
                                              : { ...turn, text: e.data.answer, answer: e.data })));
    },
    onSuccess: () => setQuestion(""),
    onError: () => setTurns((previous) => previous.slice(0, -1)),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (question.trim() && !ask.isPending) ask.mutate(question.trim());
  };
  return (
    <>
      {!compact && <h1>Chat</h1>}
      {/* screen readers hear each answer once it is whole, not every streamed piece of it */}
      <p className="visually-hidden" aria-live="polite">{turns.at(-1)?.answer?.answer}</p>
      <div className="panel chat-turns">
        {turns.length === 0 && <p className="muted">Try: {EXAMPLES.join(" · ")}</p>}
        {turns.map((turn, i) => (
          <article key={i} aria-label={`Answer to ${turn.question}`} aria-busy={!turn.answer}>
            <p><strong>{turn.question}</strong></p>
            <AnswerText text={turn.text} done={turn.answer !== undefined} />
            {turn.answer && (
              <>
                <p className="muted">answered by {turn.answer.mode === "llm" ? "the LLM" : "rules"} ({turn.answer.intent});
                  it reads only and runs nothing</p>
                <Citations answer={turn.answer} />
                <Proposals answer={turn.answer} />
              </>
            )}
          </article>
        ))}
      </div>
      <form className="panel row" onSubmit={submit} aria-label="Ask the chat">
        <label>Question<input value={question} onChange={(e) => setQuestion(e.target.value)} size={compact ? 30 : 60}
          maxLength={2000} /></label>
        <button type="submit" disabled={ask.isPending}>Ask</button>
        {ask.error && <span className="error" role="alert">{ask.error.message}</span>}
      </form>
    </>
  );
}
