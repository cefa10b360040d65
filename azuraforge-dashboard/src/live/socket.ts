// A WebSocket that reconnects by itself with exponential backoff until told to stop.
import { websocketProtocols, websocketUrl } from "../api/client";
import type { ProgressEvent } from "../api/types";

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;

export interface SocketOptions {
  /** Built anew for every connection, so a reconnect can ask only for what it missed. */
  url: () => string;
  onMessage: (data: unknown) => void;
  onOpen?: (reconnect: boolean) => void;
  /** Called on every close; return false to stop reconnecting. */
  shouldReconnect: (everOpened: boolean) => boolean;
  onStateChange?: (state: ConnectionState) => void;
}

export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** Opens the socket; the returned function closes it for good. */
export function keepSocketOpen(options: SocketOptions): () => void {
  let socket: WebSocket;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  let opened = false;
  let stopped = false;

  const connect = () => {
    options.onStateChange?.(failures ? "reconnecting" : "connecting");
    socket = new WebSocket(options.url(), websocketProtocols());
    socket.onopen = () => {
      options.onStateChange?.("open");
      options.onOpen?.(opened);
      opened = true;
      failures = 0;
    };
    socket.onmessage = (message: MessageEvent<string>) => options.onMessage(JSON.parse(message.data));
    socket.onclose = () => {
      if (stopped || !options.shouldReconnect(opened)) {
        options.onStateChange?.("closed");
        return;
      }
      options.onStateChange?.("reconnecting");
      timer = setTimeout(connect, Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** failures));
      failures += 1;
    };
  };
  connect();

  return () => {
    stopped = true;
    clearTimeout(timer);
    // Closing a socket that is still connecting makes the browser log an error; close it once open instead.
    if (socket.readyState === WebSocket.CONNECTING) socket.onopen = () => socket.close();
    else socket.close();
  };
}

/**
 * Follows one experiment's events: the API replays the stored ones, then sends live ones; after a drop
 * it reconnects asking only for the events after the last one seen, and stops after the final event.
 */
export function followExperiment(
  id: string,
  onEvent: (event: ProgressEvent) => void,
  onStateChange?: (state: ConnectionState) => void,
): () => void {
  let lastSeq = 0;
  let final = false;
  return keepSocketOpen({
    url: () => websocketUrl(`/ws/experiments/${encodeURIComponent(id)}`, { after: lastSeq }),
    onMessage: (data) => {
      const event = data as ProgressEvent;
      lastSeq = Math.max(lastSeq, event.seq);
      if (event.type === "status" && event.final) final = true;
      onEvent(event);
    },
    shouldReconnect: () => !final,
    onStateChange,
  });
}
