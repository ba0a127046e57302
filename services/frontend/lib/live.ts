"use client";
/** The live channel: one WebSocket per tab to the API's `/ws`, opened when the first component listens and
 * closed when the last one leaves, reconnecting with back-off and a fresh token. Events carry ids; listeners
 * fetch the rows they show. Events sent while the socket was down are lost (the API closes it when the token
 * expires, on a slow client, on a restart), so a re-open tells the listeners to reload what they show. */
import { useEffect, useRef, useState, useSyncExternalStore } from "react";
import { validAccessToken } from "@/lib/auth/session";
import { useApiUrl } from "@/components/providers";

export interface LiveEvent {
  id: string;
  type: string; // alert.stored, incident.opened, incident.updated, incident.resolved
  source: string;
  time: string;
  payload: { alert_id?: string; incident_id?: string; [field: string]: unknown };
}

export type LiveState = "connecting" | "open" | "closed";
type Listener = (event: LiveEvent) => void;
type ReconnectListener = () => void;

export class LiveChannel {
  private socket: WebSocket | null = null;
  private listeners = new Set<Listener>();
  private reconnectListeners = new Set<ReconnectListener>();
  private opened = false; // a socket opened since the first listener came: the next open is a reconnect
  private stateListeners = new Set<() => void>();
  private retryMs = 500;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private generation = 0; // bumped by each open() and close(): an open() that is no longer current gives up
  state: LiveState = "closed";

  constructor(private readonly apiUrl: string) {}

  /** `onReconnect` runs when the socket opens again after a drop: events may have been missed meanwhile. */
  listen(listener: Listener, onReconnect?: ReconnectListener): () => void {
    this.listeners.add(listener);
    if (onReconnect) this.reconnectListeners.add(onReconnect);
    if (this.listeners.size === 1) void this.open();
    return () => {
      this.listeners.delete(listener);
      if (onReconnect) this.reconnectListeners.delete(onReconnect);
      if (this.listeners.size === 0) this.close();
    };
  }

  watchState(listener: () => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  private setState(state: LiveState): void {
    this.state = state;
    this.stateListeners.forEach((listener) => listener());
  }

  private async open(): Promise<void> {
    const generation = ++this.generation;
    this.setState("connecting");
    let token: string | null;
    try {
      token = await validAccessToken(this.apiUrl);
    } catch {
      // The refresh failed (network, 5xx): try again later, as after a dropped socket.
      if (generation === this.generation) this.reconnectLater();
      return;
    }
    if (generation !== this.generation) return; // closed, or opened anew, while the token was awaited
    if (!token) return this.setState("closed");
    // The token travels as a subprotocol, never in the URL (which access logs keep).
    const socket = new WebSocket(`${this.apiUrl.replace(/^http/, "ws")}/ws`, ["aiops.live", `bearer.${token}`]);
    this.socket = socket;
    socket.onopen = () => {
      const reconnected = this.opened;
      this.opened = true;
      this.retryMs = 500;
      this.setState("open");
      if (reconnected) this.reconnectListeners.forEach((listener) => listener());
    };
    socket.onmessage = (message) => {
      const event = JSON.parse(String(message.data)) as LiveEvent;
      this.listeners.forEach((listener) => listener(event));
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.reconnectLater();
    };
  }

  private reconnectLater(): void {
    this.setState("closed");
    if (this.listeners.size > 0) this.timer = setTimeout(() => void this.open(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 15_000);
  }

  private close(): void {
    this.generation += 1;
    this.opened = false;
    clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    socket?.close();
    this.setState("closed");
  }
}

const channels = new Map<string, LiveChannel>();

function channelFor(apiUrl: string): LiveChannel {
  let channel = channels.get(apiUrl);
  if (!channel) {
    channel = new LiveChannel(apiUrl);
    channels.set(apiUrl, channel);
  }
  return channel;
}

/** Calls `onEvent` for every live event while the component is mounted, and `onReconnect` when the socket opens
 * again after a drop (reload what is shown: events were missed); returns the connection state. */
export function useLive(onEvent: Listener, onReconnect?: ReconnectListener): LiveState {
  const apiUrl = useApiUrl();
  const latest = useRef({ onEvent, onReconnect });
  latest.current = { onEvent, onReconnect };
  const channel = channelFor(apiUrl);
  useEffect(() => channel.listen((event) => latest.current.onEvent(event), () => latest.current.onReconnect?.()), [channel]);
  return useSyncExternalStore(
    (listener) => channel.watchState(listener),
    () => channel.state,
    () => "closed" as const,
  );
}

/** One refresh at a time: `start` runs `refresh` after `delayMs` unless one is already waiting (a burst refreshes
 * once); `cancel` drops the waiting one, and the next `start` waits again. */
export class RefreshTimer {
  private timer: ReturnType<typeof setTimeout> | undefined;

  start(refresh: () => void, delayMs: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      refresh();
    }, delayMs);
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Runs `refresh` after the live events `concerns` picks (at most once per `delayMs`, so a burst reloads once)
 * and at once on a reconnect; returns the connection state. */
export function useLiveRefresh(concerns: (event: LiveEvent) => boolean, refresh: () => void, delayMs = 1000): LiveState {
  const [timer] = useState(() => new RefreshTimer());
  useEffect(() => () => timer.cancel(), [timer]);
  return useLive((event) => {
    if (concerns(event)) timer.start(refresh, delayMs);
  }, refresh);
}
