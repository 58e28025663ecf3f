// The unread-notification count: read once at sign-in, then raised by every message on the
// notification WebSocket (/api/v1/notifications/ws?token=), which reconnects with backoff.

import { api, type Notification } from "../api";
import { session } from "../session";
import { toast } from "./toast";

const RETRY_MS = [1000, 2000, 5000, 10000, 30000];
const WS_UNAUTHENTICATED = 4401; // the server's close code for a bad token: do not retry

type Listener = (unread: number) => void;
const listeners = new Set<Listener>();
let unread = 0;
let socket: WebSocket | null = null;
let retries = 0;
let retryTimer: number | undefined;

export function onUnread(fn: Listener): void {
  listeners.add(fn);
  fn(unread);
}

/** Connect for the signed-in user (or disconnect when signed out). */
export function startLive(): void {
  stopLive();
  if (!session.signedIn) return setUnread(0);
  void api
    .unread()
    .then((r) => setUnread(r.count))
    .catch(() => undefined);
  connect();
}

export async function markAllRead(): Promise<void> {
  setUnread(0);
  await api.markRead();
}

function connect(): void {
  const token = session.token;
  if (!token) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = (socket = new WebSocket(
    `${scheme}://${location.host}/api/v1/notifications/ws?token=${encodeURIComponent(token)}`,
  ));
  ws.addEventListener("open", () => (retries = 0));
  ws.addEventListener("message", (event) => {
    const n = JSON.parse(String(event.data)) as Notification;
    setUnread(unread + 1);
    if (n.text) toast(n.text);
  });
  ws.addEventListener("close", (event) => {
    if (socket !== ws || event.code === WS_UNAUTHENTICATED) return;
    retryTimer = window.setTimeout(connect, RETRY_MS[Math.min(retries++, RETRY_MS.length - 1)]);
  });
}

function stopLive(): void {
  clearTimeout(retryTimer);
  const ws = socket;
  socket = null;
  ws?.close();
}

function setUnread(count: number): void {
  unread = count;
  listeners.forEach((fn) => fn(unread));
}
