"use client";
/** Chat (viewer): questions about incidents, alerts, hosts and capacity, answered from the platform's own data;
 * each answer links to what it cites. Follow-ups continue the conversation the API keeps for the user. */
import Link from "next/link";
import { useState, type FormEvent } from "react";
import { useMutation } from "@tanstack/react-query";
import { useApi } from "@/components/providers";
import { call, type Schemas } from "@/lib/api/client";

type Answer = Schemas["ChatAnswer"];
interface Turn {
  question: string;
  answer: Answer;
}

const EXAMPLES = ["What is wrong with web-3?", "Which disks fill up this week?", "How noisy was alertmanager yesterday?"];

function Citations({ answer }: { answer: Answer }) {
  if (answer.citations.length === 0) return null;
  return (
    <ul className="row" aria-label="Cited">
      {answer.citations.map((c) => (
        <li key={`${c.kind}:${c.id}`}>
          <Link href={c.link}>{c.kind} {c.kind === "host" ? c.id : c.title}</Link>
        </li>
      ))}
    </ul>
  );
}

export function ChatView() {
  const api = useApi();
  const [question, setQuestion] = useState("");
  const [turns, setTurns] = useState<Turn[]>([]);
  const ask = useMutation({
    mutationFn: (q: string) =>
      call(api.POST("/api/v1/chat", { body: { question: q, conversation_id: turns.at(-1)?.answer.conversation_id ?? null } })),
    onSuccess: (answer, q) => {
      setTurns((previous) => [...previous, { question: q, answer }]);
      setQuestion("");
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (question.trim()) ask.mutate(question.trim());
  };
  return (
    <>
      <h1>Chat</h1>
      <div className="panel" aria-live="polite">
        {turns.length === 0 && <p className="muted">Try: {EXAMPLES.join(" · ")}</p>}
        {turns.map((turn, i) => (
          <article key={i} aria-label={`Answer to ${turn.question}`}>
            <p><strong>{turn.question}</strong></p>
            <pre style={{ whiteSpace: "pre-wrap" }}>{turn.answer.answer}</pre>
            <p className="muted">answered by {turn.answer.mode === "llm" ? "the LLM" : "rules"} ({turn.answer.intent})</p>
            <Citations answer={turn.answer} />
          </article>
        ))}
      </div>
      <form className="panel row" onSubmit={submit}>
        <label>Question<input value={question} onChange={(e) => setQuestion(e.target.value)} size={60} maxLength={2000} /></label>
        <button type="submit" disabled={ask.isPending}>Ask</button>
        {ask.error && <span className="error" role="alert">{ask.error.message}</span>}
      </form>
    </>
  );
}
