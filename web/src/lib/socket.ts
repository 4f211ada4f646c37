// The server's WebSocket: JSON messages and binary preview frames, reconnecting with
// back-off when the server goes away (a restart keeps the queue, so the editor waits).
import type { Message } from "./runstate";
import { previewBlob } from "./runstate";

export type Connection = "connecting" | "open" | "closed";

export function clientId(): string {
  const key = "diffgraph.clientId";
  let id = sessionStorage.getItem(key);
  if (!id) {
    id = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
    sessionStorage.setItem(key, id);
  }
  return id;
}

export interface SocketHandlers {
  onMessage: (message: Message) => void;
  onPreview: (image: Blob) => void;
  onConnection: (state: Connection) => void;
}

/** Connect as client `id` and stay connected until the returned function is called. */
export function connectSocket(id: string, handlers: SocketHandlers): () => void {
  let socket: WebSocket | null = null;
  let retry = 500;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const open = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/api/ws?clientId=${encodeURIComponent(id)}`);
    socket.binaryType = "arraybuffer";
    handlers.onConnection("connecting");
    socket.onopen = () => {
      retry = 500;
      handlers.onConnection("open");
    };
    socket.onmessage = (event) => {
      if (typeof event.data === "string") {
        handlers.onMessage(JSON.parse(event.data) as Message);
      } else {
        const image = previewBlob(event.data as ArrayBuffer);
        if (image) handlers.onPreview(image);
      }
    };
    socket.onclose = () => {
      handlers.onConnection("closed");
      if (!stopped) timer = setTimeout(open, (retry = Math.min(retry * 2, 8000)));
    };
  };
  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    socket?.close();
  };
}
