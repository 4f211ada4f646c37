// The server's HTTP API, as the editor uses it. ComfyUI's routes under /api, ours under /v1.
import type { ImageRef, Problem, Schemas, WorkflowDoc } from "./types";

export class ApiError extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, message: string, body: unknown) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

async function call<T>(method: string, path: string, body?: unknown, raw?: Blob): Promise<T> {
  const init: RequestInit = { method, headers: {} };
  if (raw !== undefined) {
    init.body = raw;
    (init.headers as Record<string, string>)["Content-Type"] = raw.type || "application/octet-stream";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["Content-Type"] = "application/json";
  }
  const reply = await fetch(path, init);
  const text = await reply.text();
  let data: unknown = text;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    /* not JSON: keep the text */
  }
  if (!reply.ok) {
    const error = (data as { error?: unknown })?.error;
    const message =
      typeof error === "string" ? error : (error as { message?: string })?.message ?? `${reply.status} ${reply.statusText}`;
    throw new ApiError(reply.status, message, data);
  }
  return data as T;
}

export interface QueuedPrompt {
  prompt_id: string;
  number: number;
}

export interface QueueRejection {
  error: string;
  problems: Problem[];
}

export type QueueEntry = [number, string, unknown, Record<string, unknown>, string[]];

export interface HistoryEntry {
  prompt: QueueEntry;
  outputs: Record<string, { images?: ImageRef[] }>;
  status: { status_str: string; completed: boolean };
  diffgraph: { status: string; error: { message?: string; node?: string } | null; cached: string[] };
}

export interface WorkflowEntry {
  name: string;
  source: "project" | "user";
  default: boolean;
}

export const api = {
  nodes: () => call<{ nodes: Schemas }>("GET", "/v1/nodes").then((r) => r.nodes),
  // The editor shows sampler previews, so it asks for them: the server sends none unless a
  // prompt asks (ComfyUI's default, which API clients rely on).
  queuePrompt: (doc: WorkflowDoc, clientId: string) =>
    call<QueuedPrompt>("POST", "/api/prompt", {
      prompt: doc,
      client_id: clientId,
      extra_data: { preview_method: "auto" },
    }),
  interrupt: () => call<unknown>("POST", "/api/interrupt", {}),
  queue: () => call<{ queue_running: QueueEntry[]; queue_pending: QueueEntry[] }>("GET", "/api/queue"),
  deleteQueued: (ids: string[]) => call<unknown>("POST", "/api/queue", { delete: ids }),
  history: (max = 50) => call<Record<string, HistoryEntry>>("GET", `/api/history?max_items=${max}`),
  workflows: () => call<{ workflows: WorkflowEntry[] }>("GET", "/v1/workflows").then((r) => r.workflows),
  readWorkflow: (source: string, name: string) =>
    call<unknown>("GET", `/v1/workflows/${source}/${encodeURIComponent(name)}`),
  saveWorkflow: (name: string, doc: WorkflowDoc) =>
    call<WorkflowEntry>("PUT", `/v1/workflows/user/${encodeURIComponent(name)}`, doc),
  deleteWorkflow: (name: string) => call<WorkflowEntry>("DELETE", `/v1/workflows/user/${encodeURIComponent(name)}`),
  /** Any workflow a user may have (our JSON, ComfyUI API or editor JSON, or a PNG carrying one)
   * read by the server into our document. */
  importFile: (file: Blob) => call<WorkflowDoc>("POST", "/v1/workflows/import", undefined, file),
  importJson: (data: unknown) => call<WorkflowDoc>("POST", "/v1/workflows/import", data),
};

export function viewUrl(image: ImageRef): string {
  const query = new URLSearchParams({ filename: image.filename, subfolder: image.subfolder, type: image.type });
  return `/api/view?${query}`;
}
