// The server, as far as the editor's start-up and a run need it: HTTP replies by route and
// a WebSocket the test speaks through. Only the network is faked; the editor is the real one.
import type { Message } from "../lib/runstate";

/** A reply other than 200, or one the test holds back. */
export class Reply {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown) {
    this.status = status;
    this.body = body;
  }
}

// "GET /v1/nodes" -> the JSON reply, a Reply, or a function of the request's number for
// that route (1, 2, ...) returning either, possibly later.
type Answer = unknown;
type Routes = Record<string, Answer | ((call: number) => Answer | Promise<Answer>)>;

/** Answers fetch() from `routes` (path without query); an unknown route is a 404. */
export function serveHttp(routes: Routes): void {
  const calls = new Map<string, number>();
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), "http://editor.test");
    const key = `${init?.method ?? "GET"} ${url.pathname}`;
    if (!(key in routes)) return new Response(JSON.stringify({ error: `no route ${key}` }), { status: 404 });
    const call = (calls.get(key) ?? 0) + 1;
    calls.set(key, call);
    const route = routes[key];
    const answer = typeof route === "function" ? await route(call) : route;
    const reply = answer instanceof Reply ? answer : new Reply(200, answer);
    return new Response(JSON.stringify(reply.body), { status: reply.status });
  }) as typeof fetch;
}

/** Stands in for the browser's WebSocket; `FakeSocket.last` is the editor's connection. */
export class FakeSocket {
  static last: FakeSocket | null = null;
  binaryType = "blob";
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string | ArrayBuffer }) => void) | null = null;
  onclose: (() => void) | null = null;
  readonly url: string;

  constructor(url: string) {
    this.url = url;
    FakeSocket.last = this;
  }

  close() {}

  /** The server sends a JSON message. */
  send(message: Message) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  /** The server sends a binary latent-preview frame (event 1, format 2 = PNG). */
  sendPreview() {
    const frame = new ArrayBuffer(12);
    new DataView(frame).setUint32(0, 1);
    new DataView(frame).setUint32(4, 2);
    this.onmessage?.({ data: frame });
  }
}

export function installFakeSocket(): void {
  globalThis.WebSocket = FakeSocket as unknown as typeof WebSocket;
}
