// A group: a titled, resizable frame. Dragging it moves the nodes inside (the editor
// does that in its drag handlers); deleting it leaves them where they are.
import { NodeResizer, useReactFlow, type NodeProps } from "@xyflow/react";
import { useState } from "react";
import type { GroupNode } from "../lib/graph";

export function GroupNodeView({ id, data, selected }: NodeProps<GroupNode>) {
  const { updateNodeData } = useReactFlow();
  const [editing, setEditing] = useState(false);
  const color = typeof data.extra.color === "string" ? data.extra.color : undefined;
  return (
    <div className="dg-group" style={color ? { borderColor: color, background: `${color}22` } : undefined} data-testid="group">
      <NodeResizer isVisible={selected} minWidth={120} minHeight={80} />
      {editing ? (
        <input
          className="nodrag group-title-edit"
          autoFocus
          defaultValue={data.title}
          onBlur={(e) => {
            updateNodeData(id, { title: e.target.value });
            setEditing(false);
          }}
          onKeyDown={(e) => e.key === "Enter" && (e.target as HTMLInputElement).blur()}
        />
      ) : (
        <div className="group-title" onDoubleClick={() => setEditing(true)}>
          {data.title || "Group"}
        </div>
      )}
    </div>
  );
}
