// The canvas: React Flow drawing the store's graph, with the store's handlers for every
// change; double-click the empty canvas for the palette, drop a workflow file to open it.
import { Background, Controls, MiniMap, ReactFlow, type Edge } from "@xyflow/react";
import { useMemo } from "react";
import type { FlowNode } from "../lib/graph";
import { portColor } from "../lib/ports";
import type { Schemas } from "../lib/types";
import { useStore } from "../store";
import { DiffNodeView } from "./DiffNodeView";
import { GroupNodeView } from "./GroupNodeView";

const nodeTypes = { diff: DiffNodeView, group: GroupNodeView };

/** Each edge coloured by the type of the output it leaves. */
export function styledEdges(nodes: FlowNode[], edges: Edge[], schemas: Schemas): Edge[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  return edges.map((e) => {
    const source = byId.get(e.source);
    const type = source?.type === "diff" ? schemas[source.data.nodeType]?.outputs.find((o) => o.name === e.sourceHandle)?.type : undefined;
    return { ...e, style: { stroke: type ? portColor(type) : "#999", strokeWidth: 2 } };
  });
}

export function Canvas() {
  const nodes = useStore((s) => s.nodes);
  const edges = useStore((s) => s.edges);
  const schemas = useStore((s) => s.schemas);
  const dark = useStore((s) => s.dark);
  const styled = useMemo(() => styledEdges(nodes, edges, schemas), [nodes, edges, schemas]);
  const a = useStore.getState(); // actions: stable, read once
  return (
    <main
      className="canvas"
      onDoubleClick={(e) => (e.target as Element).classList.contains("react-flow__pane") && a.openPalette({ x: e.clientX, y: e.clientY })}
      onDragOver={(e) => e.preventDefault()}
      onDrop={(e) => {
        e.preventDefault();
        const file = e.dataTransfer.files[0];
        if (file) void a.openFile(file);
      }}
    >
      <ReactFlow<FlowNode, Edge>
        nodes={nodes}
        edges={styled}
        nodeTypes={nodeTypes}
        onInit={a.setFlow}
        onNodesChange={a.onNodesChange}
        onEdgesChange={a.onEdgesChange}
        onConnect={a.connect}
        onConnectEnd={a.explainRefusedLink}
        isValidConnection={a.isValidConnection}
        onNodeDragStart={a.startGroupDrag}
        onNodeDrag={a.dragGroup}
        onNodeDragStop={a.endDrag}
        deleteKeyCode={["Delete", "Backspace"]}
        multiSelectionKeyCode={["Control", "Meta", "Shift"]}
        zoomOnDoubleClick={false}
        colorMode={dark ? "dark" : "light"}
        minZoom={0.1}
        fitView
      >
        <Background gap={20} />
        <Controls />
        <MiniMap pannable zoomable />
      </ReactFlow>
    </main>
  );
}
