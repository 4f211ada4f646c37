// The workflow document <-> what React Flow draws. Node ids are the document's ids; an edge
// is one linked input (its id is "target.input", as an input takes one link at most).
import type { Edge, Node } from "@xyflow/react";
import type { Group, InputValue, Literal, NodeUI, Problem, Schemas, WorkflowDoc } from "./types";
import { randomSeed } from "./widgets";
import { isLink } from "./types";

export interface DiffNodeData extends Record<string, unknown> {
  nodeType: string;
  values: Record<string, Literal>; // the literal inputs (widgets); links are edges
  title?: string;
  ui: Omit<NodeUI, "pos" | "title">; // editor data we do not use, kept for round trips
}

export interface GroupData extends Record<string, unknown> {
  title: string;
  extra: Record<string, unknown>; // colour and anything else the file had
}

export type DiffNode = Node<DiffNodeData, "diff">;
export type GroupNode = Node<GroupData, "group">;
export type FlowNode = DiffNode | GroupNode;

export const GROUP_PREFIX = "group:";
const COLUMN = 340;
const ROW = 240;

export function edgeId(target: string, input: string): string {
  return `${target}.${input}`;
}

export function makeEdge(source: string, output: string, target: string, input: string): Edge {
  return { id: edgeId(target, input), source, sourceHandle: output, target, targetHandle: input };
}

export function toFlow(doc: WorkflowDoc): { nodes: FlowNode[]; edges: Edge[] } {
  const auto = layout(doc);
  const groups: GroupNode[] = (doc.groups ?? []).map((group, index) => {
    const { title, bounding, ...extra } = group;
    const [x, y, width, height] = bounding;
    return {
      id: `${GROUP_PREFIX}${index}`,
      type: "group",
      position: { x, y },
      width,
      height,
      zIndex: -1,
      data: { title, extra },
    };
  });
  const nodes: DiffNode[] = [];
  const edges: Edge[] = [];
  for (const [id, node] of Object.entries(doc.nodes)) {
    const { pos, title, ...ui } = node.ui ?? {};
    const values: Record<string, Literal> = {};
    for (const [name, value] of Object.entries(node.inputs)) {
      if (isLink(value)) edges.push(makeEdge(value.node, value.output, id, name));
      else values[name] = value;
    }
    const [x, y] = pos ?? auto[id];
    nodes.push({
      id,
      type: "diff",
      position: { x, y },
      data: { nodeType: node.type, values, ...(title !== undefined ? { title } : {}), ui },
    });
  }
  return { nodes: [...groups, ...nodes], edges };
}

/** The document for what is drawn. `base` supplies the document-level ui and meta. */
export function toDocument(
  nodes: FlowNode[],
  edges: Edge[],
  schemas: Schemas,
  base: Pick<WorkflowDoc, "ui" | "meta">,
): WorkflowDoc {
  const links = new Map<string, Edge[]>();
  for (const edge of edges) links.set(edge.target, [...(links.get(edge.target) ?? []), edge]);
  const doc: WorkflowDoc = {
    format: "diffgraph.workflow",
    version: 1,
    nodes: {},
    groups: [],
    ui: base.ui,
    meta: base.meta,
  };
  for (const node of nodes) {
    if (node.type === "group") {
      const { x, y } = node.position;
      doc.groups.push({
        ...node.data.extra,
        title: node.data.title,
        bounding: [x, y, node.width ?? node.measured?.width ?? 0, node.height ?? node.measured?.height ?? 0],
      } as Group);
      continue;
    }
    const inputs: Record<string, InputValue> = { ...node.data.values };
    for (const edge of links.get(node.id) ?? []) {
      inputs[edge.targetHandle ?? ""] = { node: edge.source, output: edge.sourceHandle ?? "" };
    }
    const ui: NodeUI = { ...node.data.ui, pos: [node.position.x, node.position.y] };
    if (node.data.title !== undefined) ui.title = node.data.title;
    doc.nodes[node.id] = { type: node.data.nodeType, inputs: ordered(inputs, schemas, node.data.nodeType), ui };
  }
  return doc;
}

/** Inputs in the schema's order (then any the schema does not know), so saves are stable. */
function ordered(
  inputs: Record<string, InputValue>,
  schemas: Schemas,
  nodeType: string,
): Record<string, InputValue> {
  const names = (schemas[nodeType]?.inputs ?? []).map((i) => i.name);
  const out: Record<string, InputValue> = {};
  for (const name of [...names, ...Object.keys(inputs)]) {
    if (name in inputs && !(name in out)) out[name] = inputs[name];
  }
  return out;
}

/** Positions for nodes the file placed nowhere (ComfyUI API prompts carry none):
 * one column per depth from the sources, in file order within a column. */
function layout(doc: WorkflowDoc): Record<string, [number, number]> {
  const depth: Record<string, number> = {};
  const visiting = new Set<string>();
  const depthOf = (id: string): number => {
    if (depth[id] !== undefined) return depth[id];
    if (visiting.has(id) || !doc.nodes[id]) return 0; // a cycle or a dangling link
    visiting.add(id);
    const sources = Object.values(doc.nodes[id].inputs).filter(isLink);
    depth[id] = sources.length ? 1 + Math.max(...sources.map((l) => depthOf(l.node))) : 0;
    visiting.delete(id);
    return depth[id];
  };
  const rows: Record<number, number> = {};
  const out: Record<string, [number, number]> = {};
  for (const id of Object.keys(doc.nodes)) {
    const column = depthOf(id);
    const row = rows[column] ?? 0;
    rows[column] = row + 1;
    out[id] = [40 + column * COLUMN, 40 + row * ROW];
  }
  return out;
}

/** An id no node has: the next free integer, as ComfyUI numbers its nodes. */
export function freeId(taken: Iterable<string>): string {
  const used = new Set(taken);
  let n = 1;
  for (const id of used) if (/^\d+$/.test(id)) n = Math.max(n, Number(id) + 1);
  while (used.has(String(n))) n += 1;
  return String(n);
}

/** Whether linking source -> target would close a loop (target already feeds source). */
export function wouldCycle(edges: Edge[], source: string, target: string): boolean {
  if (source === target) return true;
  const stack = [source];
  const seen = new Set<string>();
  while (stack.length) {
    const at = stack.pop() as string;
    if (at === target) return true;
    if (seen.has(at)) continue;
    seen.add(at);
    for (const e of edges) if (e.target === at) stack.push(e.source);
  }
  return false;
}

/** The server's problems split into those on a drawn node (by id) and the rest. */
export function problemsByNode(
  problems: Problem[],
  nodes: FlowNode[],
): { byNode: Record<string, Problem[]>; general: string[] } {
  const known = new Set(nodes.map((n) => n.id));
  const byNode: Record<string, Problem[]> = {};
  const general: string[] = [];
  for (const p of problems) {
    if (p.node && known.has(p.node)) (byNode[p.node] ??= []).push(p);
    else general.push(p.message);
  }
  return { byNode, general };
}

/** Seeds whose "after queue" control is randomize get a new value; other nodes unchanged. */
export function withRandomSeeds(nodes: FlowNode[], schemas: Schemas, random: () => number = Math.random): FlowNode[] {
  return nodes.map((n) => {
    if (n.type !== "diff") return n;
    const controls = (n.data.ui.seed_control ?? {}) as Record<string, string>;
    const specs = (schemas[n.data.nodeType]?.inputs ?? []).filter((s) => controls[s.name] === "randomize");
    if (!specs.length) return n;
    const values = { ...n.data.values };
    for (const spec of specs) values[spec.name] = randomSeed(spec, random);
    return { ...n, data: { ...n.data, values } };
  });
}
