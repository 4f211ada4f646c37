// What the WebSocket says about a run, folded into per-node state for drawing.
// The messages are ComfyUI's (apps/jobs/messages.py sends them).
import type { ImageRef } from "./types";

export type NodeStatus = "idle" | "queued" | "running" | "cached" | "done" | "error";

export interface NodeRun {
  status: NodeStatus;
  progress?: { value: number; max: number };
  images?: ImageRef[];
  error?: string;
}

export interface RunState {
  promptId: string | null; // the job whose events are shown
  nodes: Record<string, NodeRun>;
  running: string | null; // the node executing now
  queueRemaining: number;
  lastError: string | null;
}

export const initialRun: RunState = {
  promptId: null,
  nodes: {},
  running: null,
  queueRemaining: 0,
  lastError: null,
};

export interface Message {
  type: string;
  data: Record<string, unknown>;
}

function setNode(state: RunState, id: string, run: NodeRun): RunState {
  return { ...state, nodes: { ...state.nodes, [id]: run } };
}

/** The state after one message. `graphNodes` are the ids of the nodes drawn now. */
export function reduceRun(state: RunState, message: Message, graphNodes: string[]): RunState {
  const data = message.data ?? {};
  const promptId = typeof data.prompt_id === "string" ? data.prompt_id : null;
  if (message.type === "status") {
    const info = (data.status as { exec_info?: { queue_remaining?: number } })?.exec_info;
    return { ...state, queueRemaining: info?.queue_remaining ?? state.queueRemaining };
  }
  if (message.type === "execution_start") {
    const nodes: Record<string, NodeRun> = {};
    for (const id of graphNodes) nodes[id] = { status: "queued", images: state.nodes[id]?.images };
    return { ...state, promptId, nodes, running: null, lastError: null };
  }
  if (promptId !== null && promptId !== state.promptId) return state; // another job's events
  switch (message.type) {
    case "execution_cached": {
      let next = state;
      for (const id of (data.nodes as string[]) ?? []) {
        next = setNode(next, id, { ...next.nodes[id], status: "cached" });
      }
      return next;
    }
    case "executing": {
      const node = data.node as string | null;
      const finished = state.running;
      let next: RunState = { ...state, running: node };
      if (finished && next.nodes[finished]?.status === "running") {
        next = setNode(next, finished, { ...next.nodes[finished], status: "done", progress: undefined });
      }
      if (node === null) return settle(next);
      return setNode(next, node, { ...next.nodes[node], status: "running" });
    }
    case "progress": {
      const node = (data.node as string) ?? state.running;
      if (!node) return state;
      const progress = { value: Number(data.value), max: Number(data.max) };
      return setNode(state, node, { ...state.nodes[node], status: "running", progress });
    }
    case "executed": {
      const node = data.node as string;
      const output = (data.output as { images?: ImageRef[] }) ?? {};
      const status = state.nodes[node]?.status === "cached" ? "cached" : "done";
      return setNode(state, node, { ...state.nodes[node], status, images: output.images, progress: undefined });
    }
    case "execution_error": {
      const node = data.node_id as string | null;
      const text = `${data.exception_type ?? "Error"}: ${data.exception_message ?? ""}`.trim();
      const next = { ...state, lastError: text, running: null };
      return settle(node ? setNode(next, node, { ...next.nodes[node], status: "error", error: text }) : next);
    }
    case "execution_interrupted":
      return settle({ ...state, running: null, lastError: "interrupted" });
    default:
      return state;
  }
}

/** The job ended: nodes still waiting were not needed (or never reached). */
function settle(state: RunState): RunState {
  const nodes: Record<string, NodeRun> = {};
  for (const [id, run] of Object.entries(state.nodes)) {
    nodes[id] = run.status === "queued" || run.status === "running" ? { ...run, status: "idle", progress: undefined } : run;
  }
  return { ...state, nodes };
}

/** A binary preview frame: 4-byte big-endian event type (1), 4-byte format (1 JPEG, 2 PNG). */
export function previewBlob(frame: ArrayBuffer): Blob | null {
  if (frame.byteLength < 8) return null;
  const view = new DataView(frame);
  if (view.getUint32(0) !== 1) return null;
  const format = view.getUint32(4) === 2 ? "image/png" : "image/jpeg";
  return new Blob([frame.slice(8)], { type: format });
}
