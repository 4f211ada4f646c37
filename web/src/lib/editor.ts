// What every node on the canvas reads besides its own data: the schemas, the run, the
// server's complaints, and the few actions a node performs on the graph.
import { createContext, useContext } from "react";
import type { RunState } from "./runstate";
import type { Literal, Problem, Schemas } from "./types";

export interface EditorContextValue {
  schemas: Schemas;
  run: RunState;
  preview: string | null; // object URL of the latest latent preview (of run.running)
  problems: Record<string, Problem[]>; // by node id, from the last refused queue
  setValue: (node: string, input: string, value: Literal, settled?: boolean) => void;
  setNodeUi: (node: string, patch: Record<string, unknown>) => void;
  setTitle: (node: string, title: string | undefined) => void;
  showImage: (url: string) => void;
}

export const EditorContext = createContext<EditorContextValue | null>(null);

export function useEditor(): EditorContextValue {
  const value = useContext(EditorContext);
  if (value === null) throw new Error("useEditor outside the editor");
  return value;
}
