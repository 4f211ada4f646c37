// The editor's state: one zustand store made of small slices, one module each. Components
// subscribe to the least they draw (a node to its own run entry, problems and schema), so a
// sampler step re-renders the running node and nothing else. Actions are part of the state
// and never change identity; code outside React reads the present with useStore.getState().
import { create, type StateCreator } from "zustand";
import { canvasSlice, type CanvasSlice } from "./canvas";
import { graphSlice, type GraphSlice } from "./graph";
import { historySlice, type HistorySlice } from "./history";
import { jobsSlice, type JobsSlice } from "./jobs";
import { runSlice, type RunSlice } from "./run";
import { themeSlice, type ThemeSlice } from "./theme";
import { uiSlice, type UiSlice } from "./ui";
import { workflowSlice, type WorkflowSlice } from "./workflow";

export type EditorState = GraphSlice &
  CanvasSlice &
  HistorySlice &
  WorkflowSlice &
  RunSlice &
  JobsSlice &
  ThemeSlice &
  UiSlice;

/** A slice sees (and may call) the whole state, as its actions span slices. */
export type Slice<T> = StateCreator<EditorState, [], [], T>;

/** A fresh store: the editor has one (`useStore`); a test may make its own. */
export function createEditorStore() {
  return create<EditorState>()((...a) => ({
    ...graphSlice(...a),
    ...canvasSlice(...a),
    ...historySlice(...a),
    ...workflowSlice(...a),
    ...runSlice(...a),
    ...jobsSlice(...a),
    ...themeSlice(...a),
    ...uiSlice(...a),
  }));
}

export type EditorStore = ReturnType<typeof createEditorStore>;

export const useStore = createEditorStore();
