// Groups: Ctrl+G frames the selected nodes; dragging a frame carries the nodes inside it.
import type { XYPosition } from "@xyflow/react";
import { useCallback, useRef } from "react";
import { GROUP_PREFIX, freeId, type FlowNode } from "../lib/graph";
import { frameAround, insideGroup } from "../lib/snapshot";
import type { GraphApi } from "./graphApi";

export function useGroups({ latest, setNodes, commit, say }: GraphApi) {
  const drag = useRef<{ start: XYPosition; members: Map<string, XYPosition> } | null>(null);
  const onNodeDragStart = useCallback(
    (_: unknown, node: FlowNode) => {
      if (node.type !== "group") return;
      const members = insideGroup(node, latest.current.nodes).filter((n) => !n.selected);
      drag.current = { start: node.position, members: new Map(members.map((n) => [n.id, n.position])) };
    },
    [latest],
  );
  const onNodeDrag = useCallback(
    (_: unknown, node: FlowNode) => {
      const current = drag.current;
      if (!current || node.type !== "group") return;
      const dx = node.position.x - current.start.x;
      const dy = node.position.y - current.start.y;
      setNodes((all) =>
        all.map((n) => {
          const at = current.members.get(n.id);
          return at ? { ...n, position: { x: at.x + dx, y: at.y + dy } } : n;
        }),
      );
    },
    [setNodes],
  );
  const onNodeDragStop = useCallback(() => {
    drag.current = null;
    commit();
  }, [commit]);
  const groupSelection = useCallback(() => {
    const picked = latest.current.nodes.filter((n) => n.selected && n.type === "diff");
    if (!picked.length) return say("select the nodes to group first");
    const frame = frameAround(picked);
    const taken = latest.current.nodes.filter((n) => n.type === "group").map((n) => n.id.slice(GROUP_PREFIX.length));
    const group: FlowNode = {
      id: `${GROUP_PREFIX}${freeId(taken)}`,
      type: "group",
      position: { x: frame.x, y: frame.y },
      width: frame.width,
      height: frame.height,
      zIndex: -1,
      data: { title: "Group", extra: {} },
    };
    setNodes((all) => [group, ...all]); // first: drawn beneath the nodes
    commit();
  }, [latest, setNodes, commit, say]);
  return { onNodeDragStart, onNodeDrag, onNodeDragStop, groupSelection };
}
