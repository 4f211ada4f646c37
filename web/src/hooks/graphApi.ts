// What the editor's hooks share: the latest graph state (read from callbacks without
// re-creating them), its setters, the undo commit and the user-facing messages.
import type { Edge } from "@xyflow/react";
import type { Dispatch, RefObject, SetStateAction } from "react";
import type { FlowNode } from "../lib/graph";
import type { Schemas, WorkflowDoc } from "../lib/types";

export interface Latest {
  nodes: FlowNode[];
  edges: Edge[];
  schemas: Schemas;
  base: Pick<WorkflowDoc, "ui" | "meta">;
  name: string | null;
}

export interface GraphApi {
  latest: RefObject<Latest>;
  setNodes: Dispatch<SetStateAction<FlowNode[]>>;
  setEdges: Dispatch<SetStateAction<Edge[]>>;
  commit: (delay?: number) => void; // record an undo step (after `delay` ms of quiet)
  say: (text: string) => void;
  sayError: (text: string) => void;
}
