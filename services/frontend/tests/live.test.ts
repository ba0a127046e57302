import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { writeSession } from "@/lib/auth/session";
import { LiveChannel, RefreshTimer, type LiveEvent } from "@/lib/live";

// The browser's WebSocket, in memory: the server accepts every socket at once; `closed` says whether the page
// closed it.
class FakeSocket {
  static made: FakeSocket[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((message: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  closed = false;

  constructor() {
    FakeSocket.made.push(this);
    queueMicrotask(() => this.onopen?.());
  }

  close(): void {
    this.closed = true;
  }
}

function jwt(claims: object): string {
  return `h.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.s`;
}

const pair = { access_token: jwt({ sub: "ann", role: "viewer" }), refresh_token: "r1", expires_in: 900,
  refresh_expires_in: 86_400, token_type: "bearer" };
const event: LiveEvent = { id: "e1", type: "alert.stored", source: "test", time: "2026-01-01T00:00:00Z",
  payload: { alert_id: "a1" } };

describe("LiveChannel", () => {
  beforeEach(() => {
    const store = new Map<string, string>();
    vi.stubGlobal("window", {
      localStorage: { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => store.set(k, v),
        removeItem: (k: string) => store.delete(k) },
    });
    vi.stubGlobal("WebSocket", FakeSocket);
    FakeSocket.made = [];
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it("retries with back-off when the token refresh fails", async () => {
    writeSession({ accessToken: "a0", refreshToken: "r0", accessExpiresAt: 0, subject: "ann", role: "viewer" });
    const answers = [new Response("", { status: 503 }), new Response(JSON.stringify(pair), { status: 200 })];
    vi.stubGlobal("fetch", vi.fn(async () => answers.shift()));
    const channel = new LiveChannel("http://api");
    channel.listen(() => undefined);
    await vi.waitFor(() => expect(channel.state).toBe("closed"));
    expect(FakeSocket.made).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(500);
    await vi.waitFor(() => expect(channel.state).toBe("open"));
    expect(FakeSocket.made).toHaveLength(1);
  });

  it("keeps one socket when a listener leaves and another comes while the token is awaited", async () => {
    writeSession({ accessToken: "a0", refreshToken: "r0", accessExpiresAt: Date.now() + 3_600_000, subject: "ann",
      role: "viewer" });
    const received: LiveEvent[] = [];
    const channel = new LiveChannel("http://api");
    channel.listen((e) => received.push(e))(); // React's strict mode mounts, unmounts and mounts again
    channel.listen((e) => received.push(e));
    await vi.waitFor(() => expect(channel.state).toBe("open"));
    const live = FakeSocket.made.filter((socket) => !socket.closed);
    live.forEach((socket) => socket.onmessage?.({ data: JSON.stringify(event) }));
    expect(live).toHaveLength(1);
    expect(received).toEqual([event]);
  });

  it("tells its listeners when the socket opens again after a drop, not on the first open", async () => {
    writeSession({ accessToken: "a0", refreshToken: "r0", accessExpiresAt: Date.now() + 3_600_000, subject: "ann",
      role: "viewer" });
    let reconnects = 0;
    const channel = new LiveChannel("http://api");
    channel.listen(() => undefined, () => (reconnects += 1));
    await vi.waitFor(() => expect(channel.state).toBe("open"));
    expect(reconnects).toBe(0);
    FakeSocket.made[0]?.onclose?.(); // the API closes the socket: the token expired, the client was slow, a restart
    expect(channel.state).toBe("closed");
    await vi.advanceTimersByTimeAsync(500);
    await vi.waitFor(() => expect(channel.state).toBe("open"));
    expect(FakeSocket.made).toHaveLength(2);
    expect(reconnects).toBe(1);
  });
});

describe("RefreshTimer", () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] }));
  afterEach(() => vi.useRealTimers());

  it("refreshes once per burst, and again after a cancel (an effect cleaned up while the component stays)", () => {
    const timer = new RefreshTimer();
    const refresh = vi.fn();
    timer.start(refresh, 1000);
    timer.start(refresh, 1000);
    vi.advanceTimersByTime(1000);
    expect(refresh).toHaveBeenCalledTimes(1);
    timer.start(refresh, 1000);
    timer.cancel();
    vi.advanceTimersByTime(1000);
    expect(refresh).toHaveBeenCalledTimes(1);
    timer.start(refresh, 1000);
    vi.advanceTimersByTime(1000);
    expect(refresh).toHaveBeenCalledTimes(2);
  });
});
