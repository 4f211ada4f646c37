// Graphs for tests: a loader, samplers in a chain, a save. Each sampler has a port and the
// usual widgets (seed, steps, cfg slider, choice, prompt).
import type { NodeSchema, Schemas, WorkflowDoc, WorkflowNode } from "../lib/types";

function schema(id: string, inputs: NodeSchema["inputs"], outputs: NodeSchema["outputs"]): NodeSchema {
  return {
    id,
    version: 1,
    title: id,
    category: "test",
    description: "",
    output_node: false,
    comfy_class: null,
    pack: "test",
    inputs,
    outputs,
  };
}

export const schemas: Schemas = {
  "test.load": schema("test.load", [], [{ name: "latent", type: "LATENT" }]),
  "test.sample": schema(
    "test.sample",
    [
      { name: "latent", type: "LATENT", kind: "port", required: true },
      { name: "seed", type: "INT", kind: "widget", required: true, default: 0, min: 0, max: 2 ** 32, randomize: true },
      { name: "steps", type: "INT", kind: "widget", required: true, default: 20, min: 1, max: 1000 },
      { name: "cfg", type: "FLOAT", kind: "widget", required: true, default: 7, min: 0, max: 30, step: 0.5, slider: true },
      { name: "sampler", type: "STRING", kind: "widget", required: true, default: "euler", choices: ["euler", "ddim"] },
      { name: "text", type: "STRING", kind: "widget", required: true, default: "", multiline: true },
    ],
    [{ name: "latent", type: "LATENT" }],
  ),
  "test.save": schema("test.save", [{ name: "latent", type: "LATENT", kind: "port", required: true }], []),
};

/** `count` nodes: "1" loads, "2" .. "count-1" sample (each from the one before), `count` saves. */
export function chain(count: number): WorkflowDoc {
  const nodes: Record<string, WorkflowNode> = { "1": { type: "test.load", inputs: {} } };
  for (let i = 2; i < count; i++) {
    nodes[String(i)] = { type: "test.sample", inputs: { latent: { node: String(i - 1), output: "latent" }, steps: 20 } };
  }
  nodes[String(count)] = { type: "test.save", inputs: { latent: { node: String(count - 1), output: "latent" } } };
  return { format: "diffgraph.workflow", version: 1, nodes, groups: [], ui: {}, meta: {} };
}
