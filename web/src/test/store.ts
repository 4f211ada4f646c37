// A fresh editor store (the real one, not the app's instance) with a workflow open.
import { createEditorStore, type EditorStore } from "../store";
import type { Schemas, WorkflowDoc } from "../lib/types";

export function storeWith(doc: WorkflowDoc, schemas: Schemas, name: string | null = null): EditorStore {
  const store = createEditorStore();
  store.setState({ schemas });
  store.getState().openDoc(doc, name);
  return store;
}
