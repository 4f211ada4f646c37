// Copy and paste: the selected nodes and the links among them, pasted under new ids.
import type { Edge } from "@xyflow/react";
import type { FlowNode } from "./graph";
import { GROUP_PREFIX, freeId, makeEdge } from "./graph";

export interface Clip {
  nodes: FlowNode[];
  edges: Edge[];
}

export function copySelection(nodes: FlowNode[], edges: Edge[]): Clip | null {
  const picked = nodes.filter((n) => n.selected);
  if (!picked.length) return null;
  const ids = new Set(picked.map((n) => n.id));
  return {
    nodes: structuredClone(picked.map(({ measured: _m, ...n }) => n)) as FlowNode[],
    edges: edges.filter((e) => ids.has(e.source) && ids.has(e.target)),
  };
}

/** The clip's nodes and edges under ids free in `existing`, moved by `offset`, selected. */
export function pasteClip(clip: Clip, existing: FlowNode[], offset = 40): Clip {
  const taken = existing.map((n) => n.id);
  const renamed = new Map<string, string>();
  const nodes = clip.nodes.map((node) => {
    const id = node.type === "group" ? `${GROUP_PREFIX}${freeId(taken.filter((t) => t.startsWith(GROUP_PREFIX)).map((t) => t.slice(GROUP_PREFIX.length)))}` : freeId(taken);
    taken.push(id);
    renamed.set(node.id, id);
    const position = { x: node.position.x + offset, y: node.position.y + offset };
    return { ...structuredClone(node), id, position, selected: true } as FlowNode;
  });
  const edges = clip.edges.map((e) =>
    makeEdge(renamed.get(e.source) as string, e.sourceHandle ?? "", renamed.get(e.target) as string, e.targetHandle ?? ""),
  );
  return { nodes, edges };
}
