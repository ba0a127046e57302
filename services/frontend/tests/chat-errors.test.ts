import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ApiError, makeApi } from "@/lib/api/client";
import { openChatStream, readChatEvents, type ChatEvent } from "@/components/chat/stream";

// A local API answering POST /api/v1/chat/stream as the real one does: an event stream, or an error with a detail.
type Answer = (request: IncomingMessage, response: ServerResponse) => void;
let server: Server | undefined;

async function serve(answer: Answer): Promise<string> {
  server = createServer((request, response) => {
    request.resume();
    request.on("end", () => answer(request, response));
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer => (_, response) => {
  response.writeHead(status, { "Content-Type": "application/json", ...headers });
  response.end(JSON.stringify(body));
};

async function failure(url: string): Promise<ApiError> {
  const error = await openChatStream(makeApi(url), { question: "What is wrong with web-3?" }).then(
    () => { throw new Error("the chat was answered"); }, (e: unknown) => e);
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

// The API's 429 detail, word for word (services/api/tests/chat/test_router.py): the limit, no time; the time
// is Retry-After's, worded here once.
const QUOTA = "your hourly chat budget is spent (LLM_CHAT_TOKENS_PER_USER_HOUR=20000 tokens)";

describe("the chat's errors (POST /api/v1/chat/stream)", () => {
  it("shows a 429's detail and when to try again, not only its status", async () => {
    const url = await serve(json(429, { detail: QUOTA }, { "Retry-After": "1800" }));
    const error = await failure(url);
    expect(error.status).toBe(429);
    expect(error.message).toBe(`${QUOTA}; try again in 30 min`);
  });

  it("reads Retry-After as an HTTP date too, and in hours past one", async () => {
    const at = new Date(Date.now() + (2 * 3600 + 5 * 60) * 1000 - 500).toUTCString();
    const error = await failure(await serve(json(429, { detail: QUOTA }, { "Retry-After": at })));
    expect(error.message).toMatch(new RegExp(`^${QUOTA.replace(/[()]/g, "\\$&")}; try again in 2 h [45] min$`));
  });

  it("shows another 4xx's detail, a validation error's fields, and the status when there is no detail", async () => {
    expect((await failure(await serve(json(404, { detail: "No such conversation of yours" })))).message)
      .toBe("No such conversation of yours");
    server!.close();
    const invalid = { detail: [{ loc: ["body", "question"], msg: "String should have at most 2000 characters" }] };
    expect((await failure(await serve(json(422, invalid)))).message)
      .toBe("body.question: String should have at most 2000 characters");
    server!.close();
    const bare = await failure(await serve((_, response) => { response.writeHead(500); response.end("oops"); }));
    expect([bare.status, bare.message]).toEqual([500, "unexpected answer (HTTP 500)"]);
  });

  const DELTAS = 'event: delta\ndata: {"text": "web-3 is"}\n\nevent: delta\ndata: {"text": " fine"}\n\n';
  const stream = (body: string): Answer => (_, response) => {
    response.writeHead(200, { "Content-Type": "text/event-stream" });
    response.end(body);
  };

  it("streams the answer's events when it is answered", async () => {
    const answer = { answer: "web-3 is fine", intent: "host", mode: "rules", citations: [], conversation_id: "c1" };
    const url = await serve(stream(`${DELTAS}event: answer\ndata: ${JSON.stringify(answer)}\n\n`));
    const events: ChatEvent[] = [];
    await readChatEvents(await openChatStream(makeApi(url), { question: "web-3?" }), (e) => events.push(e));
    expect(events.map((e) => (e.event === "delta" ? e.data.text : e.data.answer))).toEqual(["web-3 is", " fine", "web-3 is fine"]);
  });

  it("fails when the stream ends before its answer", async () => {
    const url = await serve(stream(DELTAS));
    const reading = readChatEvents(await openChatStream(makeApi(url), { question: "web-3?" }), () => undefined);
    await expect(reading).rejects.toThrow("the answer was cut off: the stream ended before it arrived whole");
  });
});
