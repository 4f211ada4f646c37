// What gestures on the canvas do to the graph beyond React Flow's own changes: linking
// ports (only an output to an input of its type, never into a loop, one link per input),
// groups (Ctrl+G frames the selection; dragging a frame carries the nodes inside), and
// copy, paste and select all.
import type { Connection, Edge, FinalConnectionState, XYPosition } from "@xyflow/react";
import { copySelection, pasteClip, type Clip } from "../lib/clipboard";
import { GROUP_PREFIX, freeId, makeEdge, wouldCycle, type FlowNode } from "../lib/graph";
import { canConnect } from "../lib/ports";
import { frameAround, insideGroup } from "../lib/snapshot";
import type { Schemas } from "../lib/types";
import type { Slice } from "./index";

interface LinkActions {
  isValidConnection: (c: Connection | Edge) => boolean;
  connect: (c: Connection) => void;
  /** A drop React Flow refused: say why (a loop, or the two types). */
  explainRefusedLink: (event: MouseEvent | TouchEvent, state: FinalConnectionState) => void;
}

interface GroupActions {
  groupSelection: () => void;
  startGroupDrag: (event: unknown, node: FlowNode) => void;
  dragGroup: (event: unknown, node: FlowNode) => void;
  endDrag: () => void;
}

interface ClipboardActions {
  copy: () => void;
  paste: () => void;
  selectAll: () => void;
}

export type CanvasSlice = LinkActions & GroupActions & ClipboardActions;

/** The type of a node's output (or input) `handle`, if the node and port are known. */
export function portType(
  nodes: FlowNode[],
  schemas: Schemas,
  node: string,
  handle: string | null | undefined,
  output: boolean,
): string | undefined {
  const n = nodes.find((x) => x.id === node);
  const schema = n?.type === "diff" ? schemas[n.data.nodeType] : undefined;
  return (output ? schema?.outputs : schema?.inputs)?.find((p) => p.name === handle)?.type;
}

/** The nodes moved by a group drag: each member by how far the frame went from `start`. */
export function carried(nodes: FlowNode[], members: Map<string, XYPosition>, start: XYPosition, now: XYPosition): FlowNode[] {
  const dx = now.x - start.x;
  const dy = now.y - start.y;
  return nodes.map((n) => {
    const at = members.get(n.id);
    return at ? { ...n, position: { x: at.x + dx, y: at.y + dy } } : n;
  });
}

const links: Slice<LinkActions> = (set, get) => {
  const typeOf = (node: string, handle: string | null | undefined, output: boolean) =>
    portType(get().nodes, get().schemas, node, handle, output);
  return {
    isValidConnection: (c) =>
      canConnect(typeOf(c.source, c.sourceHandle, true), typeOf(c.target, c.targetHandle, false)) &&
      !wouldCycle(get().edges, c.source, c.target),
    connect: (c) => {
      const edge = makeEdge(c.source, c.sourceHandle ?? "", c.target, c.targetHandle ?? "");
      set({ edges: [...get().edges.filter((e) => e.id !== edge.id), edge] }); // replaces the input's old link
      get().commit();
    },
    explainRefusedLink: (_, state) => {
      const from = state.fromHandle;
      const to = state.toHandle;
      if (!from || !to || state.isValid || from.type === to.type) return;
      const [source, target] = from.type === "source" ? [from, to] : [to, from];
      const a = typeOf(source.nodeId, source.id, true) ?? "?";
      const b = typeOf(target.nodeId, target.id, false) ?? "?";
      get().sayError(
        a === b ? "not connected: that link would make a loop" : `not connected: ${source.id} is ${a}, ${target.id} takes ${b}`,
      );
    },
  };
};

const groups: Slice<GroupActions> = (set, get) => {
  // The group being dragged and where its members started: transient, not in the document.
  let drag: { start: XYPosition; members: Map<string, XYPosition> } | null = null;
  return {
    groupSelection: () => {
      const { nodes, say } = get();
      const picked = nodes.filter((n) => n.selected && n.type === "diff");
      if (!picked.length) return say("select the nodes to group first");
      const frame = frameAround(picked);
      const taken = nodes.filter((n) => n.type === "group").map((n) => n.id.slice(GROUP_PREFIX.length));
      const group: FlowNode = {
        id: `${GROUP_PREFIX}${freeId(taken)}`,
        type: "group",
        position: { x: frame.x, y: frame.y },
        width: frame.width,
        height: frame.height,
        zIndex: -1,
        data: { title: "Group", extra: {} },
      };
      set({ nodes: [group, ...nodes] }); // first: drawn beneath the nodes
      get().commit();
    },
    startGroupDrag: (_, node) => {
      if (node.type !== "group") return;
      const members = insideGroup(node, get().nodes).filter((n) => !n.selected); // selected ones move anyway
      drag = { start: node.position, members: new Map(members.map((n) => [n.id, n.position])) };
    },
    dragGroup: (_, node) => {
      if (!drag || node.type !== "group") return;
      set({ nodes: carried(get().nodes, drag.members, drag.start, node.position) });
    },
    endDrag: () => {
      drag = null;
      get().commit();
    },
  };
};

const clipboard: Slice<ClipboardActions> = (set, get) => {
  let clip: Clip | null = null; // what was copied: kept here, not in the system clipboard
  return {
    copy: () => {
      clip = copySelection(get().nodes, get().edges);
      if (clip) get().say(`copied ${clip.nodes.length} node(s)`);
    },
    paste: () => {
      if (!clip) return;
      const pasted = pasteClip(clip, get().nodes);
      clip = { nodes: pasted.nodes, edges: pasted.edges }; // the next paste lands further on
      set({
        nodes: [...get().nodes.map((n) => ({ ...n, selected: false })), ...pasted.nodes],
        edges: [...get().edges, ...pasted.edges],
      });
      get().commit();
    },
    selectAll: () => set({ nodes: get().nodes.map((n) => ({ ...n, selected: true })) }),
  };
};

export const canvasSlice: Slice<CanvasSlice> = (...a) => ({ ...links(...a), ...groups(...a), ...clipboard(...a) });
