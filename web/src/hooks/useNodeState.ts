// What one node on the canvas reads from the store: only its own part, so that an update
// for another node (a sampler step, a problem, a preview frame) does not re-render it.
// The fallbacks are constants: a fresh `{}` or `[]` would count as a change every time.
import type { NodeRun } from "../lib/runstate";
import type { NodeSchema, Problem } from "../lib/types";
import { useStore } from "../store";

const IDLE: NodeRun = { status: "idle" };
const NO_PROBLEMS: Problem[] = [];

export function useNodeRun(id: string): NodeRun {
  return useStore((s) => s.run.nodes[id] ?? IDLE);
}

/** The server's complaints about this node, from the last refused queue. */
export function useNodeProblems(id: string): Problem[] {
  return useStore((s) => s.problems[id] ?? NO_PROBLEMS);
}

export function useSchema(nodeType: string): NodeSchema | undefined {
  return useStore((s) => s.schemas[nodeType]);
}

/** The latest latent preview while this node is the one running, else null. */
export function useNodePreview(id: string): string | null {
  return useStore((s) => (s.run.running === id ? s.preview : null));
}
