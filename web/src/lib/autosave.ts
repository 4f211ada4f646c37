// The graph in progress, kept in the browser's local storage so a reload brings it back.
import type { WorkflowDoc } from "./types";

const KEY = "diffgraph.autosave";

export interface Autosaved {
  name: string | null;
  doc: WorkflowDoc;
}

export function writeAutosave(name: string | null, doc: WorkflowDoc): void {
  localStorage.setItem(KEY, JSON.stringify({ name, doc }));
}

export function readAutosave(): Autosaved | null {
  const saved = localStorage.getItem(KEY);
  return saved ? (JSON.parse(saved) as Autosaved) : null;
}
