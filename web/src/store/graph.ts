// The graph being edited: React Flow's nodes and edges (the document is derived from them
// when it is queued, saved or downloaded), the node schemas, the document's own ui/meta,
// the workflow's name and the problems of the last refused queue.
import { applyEdgeChanges, applyNodeChanges, type Edge, type EdgeChange, type NodeChange, type XYPosition } from "@xyflow/react";
import { api } from "../lib/api";
import { freeId, toDocument, toFlow, withRandomSeeds, type DiffNode, type FlowNode } from "../lib/graph";
import type { Literal, NodeSchema, Problem, Schemas, WorkflowDoc } from "../lib/types";
import { defaultValue } from "../lib/widgets";
import type { Slice } from "./index";

export type DocumentBase = Pick<WorkflowDoc, "ui" | "meta">;

export interface GraphSlice {
  nodes: FlowNode[];
  edges: Edge[];
  schemas: Schemas;
  base: DocumentBase;
  name: string | null;
  problems: Record<string, Problem[]>; // by node id
  onNodesChange: (changes: NodeChange<FlowNode>[]) => void;
  onEdgesChange: (changes: EdgeChange[]) => void;
  /** A widget's value; `settled` false while the user is still typing or sliding. */
  setValue: (node: string, input: string, value: Literal, settled?: boolean) => void;
  setNodeUi: (node: string, patch: Record<string, unknown>) => void;
  setTitle: (node: string, title: string | undefined) => void;
  addNode: (type: string, at: XYPosition) => void;
  randomizeSeeds: () => void;
  /** Draw `doc` in place of the graph (no undo step: see openDoc). */
  loadGraph: (doc: WorkflowDoc, name: string | null) => void;
  currentDoc: () => WorkflowDoc;
  /** Schemas from the server; a failure is reported, not thrown. */
  refreshSchemas: () => Promise<void>;
}

// -- pure reducers -------------------------------------------------------------------------

function patchData(nodes: FlowNode[], id: string, patch: (data: FlowNode["data"]) => FlowNode["data"]): FlowNode[] {
  return nodes.map((n) => (n.id === id ? ({ ...n, data: patch(n.data) } as FlowNode) : n));
}

export function withValue(nodes: FlowNode[], id: string, input: string, value: Literal): FlowNode[] {
  return patchData(nodes, id, (d) => ({ ...d, values: { ...(d.values as object), [input]: value } }));
}

export function withNodeUi(nodes: FlowNode[], id: string, patch: Record<string, unknown>): FlowNode[] {
  return patchData(nodes, id, (d) => ({ ...d, ui: { ...(d.ui as object), ...patch } }));
}

/** A node renamed; `undefined` gives it back its schema's title. */
export function withTitle(nodes: FlowNode[], id: string, title: string | undefined): FlowNode[] {
  return patchData(nodes, id, (d) => {
    const { title: _old, ...rest } = d as Record<string, unknown>;
    return (title === undefined ? rest : { ...rest, title }) as FlowNode["data"];
  });
}

/** A node of `schema` with its widgets' defaults; its seeds randomize after queue, as in ComfyUI. */
export function newNode(schema: NodeSchema, id: string, at: XYPosition): DiffNode {
  const values: Record<string, Literal> = {};
  const seedControl: Record<string, string> = {};
  for (const spec of schema.inputs) {
    if (spec.kind !== "widget") continue;
    values[spec.name] = defaultValue(spec);
    if (spec.randomize) seedControl[spec.name] = "randomize";
  }
  const ui = Object.keys(seedControl).length ? { seed_control: seedControl } : {};
  return { id, type: "diff", position: at, selected: true, data: { nodeType: schema.id, values, ui } };
}

/** Whether node changes end a gesture worth an undo step (not every pixel of a drag). */
export function nodeChangesSettle(changes: NodeChange<FlowNode>[]): boolean {
  return changes.some(
    (c) =>
      c.type === "remove" ||
      c.type === "add" ||
      c.type === "replace" ||
      (c.type === "position" && c.dragging === false) ||
      (c.type === "dimensions" && c.resizing === false),
  );
}

export function edgeChangesSettle(changes: EdgeChange[]): boolean {
  return changes.some((c) => c.type === "remove" || c.type === "add");
}

// -- the slice -----------------------------------------------------------------------------

export const graphSlice: Slice<GraphSlice> = (set, get) => ({
  nodes: [],
  edges: [],
  schemas: {},
  base: { ui: {}, meta: {} },
  name: null,
  problems: {},
  onNodesChange: (changes) => {
    set({ nodes: applyNodeChanges(changes, get().nodes) });
    if (nodeChangesSettle(changes)) get().commit();
  },
  onEdgesChange: (changes) => {
    set({ edges: applyEdgeChanges(changes, get().edges) });
    if (edgeChangesSettle(changes)) get().commit();
  },
  setValue: (node, input, value, settled = true) => {
    set({ nodes: withValue(get().nodes, node, input, value) });
    get().commit(settled ? 0 : 600);
  },
  setNodeUi: (node, patch) => {
    set({ nodes: withNodeUi(get().nodes, node, patch) });
    get().commit();
  },
  setTitle: (node, title) => {
    set({ nodes: withTitle(get().nodes, node, title) });
    get().commit();
  },
  addNode: (type, at) => {
    const { schemas, nodes } = get();
    const schema = schemas[type];
    if (!schema) return;
    const node = newNode(schema, freeId(nodes.map((n) => n.id)), at);
    set({ nodes: [...nodes.map((n) => ({ ...n, selected: false })), node], palette: null });
    get().commit();
  },
  randomizeSeeds: () => set({ nodes: withRandomSeeds(get().nodes, get().schemas) }),
  loadGraph: (doc, name) => {
    const { nodes, edges } = toFlow(doc);
    set({ nodes, edges, base: { ui: doc.ui ?? {}, meta: doc.meta ?? {} }, name, problems: {} });
  },
  currentDoc: () => {
    const { nodes, edges, schemas, base } = get();
    return toDocument(nodes, edges, schemas, base);
  },
  refreshSchemas: () =>
    api.nodes().then(
      (schemas) => set({ schemas }),
      (e: Error) => get().sayError(e.message),
    ),
});
