// What undo/redo and autosave keep of the graph: nodes and edges without the transient
// parts React Flow adds (selection, measured sizes, drag state).
import type { Edge } from "@xyflow/react";
import type { FlowNode } from "./graph";

export interface Snapshot {
  nodes: FlowNode[];
  edges: Edge[];
}

export function snapshot(nodes: FlowNode[], edges: Edge[]): Snapshot {
  return {
    nodes: nodes.map(({ selected: _s, measured: _m, dragging: _d, resizing: _r, ...node }) => node as FlowNode),
    edges: edges.map(({ selected: _s, style: _y, ...edge }) => edge),
  };
}

export function sameSnapshot(a: Snapshot, b: Snapshot): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Nodes lying wholly inside a group's frame (what dragging the group carries along). */
export function insideGroup(group: FlowNode, nodes: FlowNode[]): FlowNode[] {
  const x0 = group.position.x;
  const y0 = group.position.y;
  const x1 = x0 + (group.width ?? group.measured?.width ?? 0);
  const y1 = y0 + (group.height ?? group.measured?.height ?? 0);
  return nodes.filter((n) => {
    if (n.type !== "diff") return false;
    const w = n.measured?.width ?? 0;
    const h = n.measured?.height ?? 0;
    return n.position.x >= x0 && n.position.y >= y0 && n.position.x + w <= x1 && n.position.y + h <= y1;
  });
}

/** A group frame around `nodes`, with room for its title. */
export function frameAround(nodes: FlowNode[]): { x: number; y: number; width: number; height: number } {
  const pad = 24;
  const xs = nodes.map((n) => n.position.x);
  const ys = nodes.map((n) => n.position.y);
  const x2 = nodes.map((n) => n.position.x + (n.measured?.width ?? 240));
  const y2 = nodes.map((n) => n.position.y + (n.measured?.height ?? 120));
  const x = Math.min(...xs) - pad;
  const y = Math.min(...ys) - pad - 28;
  return { x, y, width: Math.max(...x2) + pad - x, height: Math.max(...y2) + pad - y };
}
