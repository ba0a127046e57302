/** Reads the chat's server-sent events (POST /api/v1/chat/stream): `delta` events carry text as it is written,
 * one `answer` event the whole answer with its citations. */
import { ApiError, apiErrorOf, type Api, type Schemas } from "@/lib/api/client";

export type ChatEvent = { event: "delta"; data: { text: string } } | { event: "answer"; data: Schemas["ChatAnswer"] };

function parse(block: string): ChatEvent | null {
  const fields = new Map<string, string>();
  for (const line of block.split("\n")) {
    const colon = line.indexOf(": ");
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 2));
  }
  const event = fields.get("event");
  const data = fields.get("data");
  if ((event !== "delta" && event !== "answer") || data === undefined) return null;
  return { event, data: JSON.parse(data) } as ChatEvent;
}

/** Calls `onEvent` for each event of `body` as it arrives; resolves when the stream ends after its answer, and
 * fails when it ends before (a dropped connection, an API that stopped midway). */
export async function readChatEvents(body: ReadableStream<Uint8Array>, onEvent: (event: ChatEvent) => void) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let answered = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const parsed = parse(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (parsed) onEvent(parsed);
      answered ||= parsed?.event === "answer";
    }
  }
  if (!answered) throw new Error("the answer was cut off: the stream ended before it arrived whole; ask again");
}

/** Asks the chat (POST /api/v1/chat/stream): the answer's event stream, or an ApiError with the API's message
 * as every page shows it (a spent chat quota's 429 names its setting and when to try again). */
export async function openChatStream(api: Api, body: Schemas["ChatRequest"]): Promise<ReadableStream<Uint8Array>> {
  const { response, error } = await api.POST("/api/v1/chat/stream", { body, parseAs: "stream" });
  if (!response.ok) throw apiErrorOf(response, error);
  if (!response.body) throw new ApiError(response.status, `the chat answered ${response.status} without a body`);
  return response.body;
}
