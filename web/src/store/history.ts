// Undo/redo over snapshots of the graph, and the autosave that keeps the graph in progress
// across reloads. A commit is scheduled after an edit (after `delay` ms of quiet while the
// user types) so that one gesture is one step.
import { writeAutosave } from "../lib/autosave";
import { sameSnapshot, snapshot, type Snapshot } from "../lib/snapshot";
import { History } from "../lib/undo";
import type { Slice } from "./index";

export interface HistorySlice {
  canUndo: boolean;
  canRedo: boolean;
  /** Record an undo step after `delay` ms of quiet (0: at the end of this task). */
  commit: (delay?: number) => void;
  commitNow: () => void;
  undo: () => void;
  redo: () => void;
  /** Start the history over from the graph drawn now (a workflow was opened). */
  restartHistory: () => void;
}

export const historySlice: Slice<HistorySlice> = (set, get) => {
  const history = new History<Snapshot>(sameSnapshot);
  let pending: ReturnType<typeof setTimeout> | undefined;
  const flags = () => ({ canUndo: history.canUndo, canRedo: history.canRedo });
  const restore = (state: Snapshot | undefined) => {
    if (state) set({ nodes: structuredClone(state.nodes), edges: structuredClone(state.edges) });
    set(flags());
  };
  const commitNow = () => {
    clearTimeout(pending);
    const { nodes, edges, name, currentDoc } = get();
    if (history.commit(snapshot(nodes, edges))) {
      writeAutosave(name, currentDoc());
      set(flags());
    }
  };
  return {
    canUndo: false,
    canRedo: false,
    commit: (delay = 0) => {
      clearTimeout(pending);
      pending = setTimeout(commitNow, delay);
    },
    commitNow,
    undo: () => {
      commitNow();
      restore(history.undo());
    },
    redo: () => {
      commitNow();
      restore(history.redo());
    },
    restartHistory: () => {
      clearTimeout(pending);
      history.reset(snapshot(get().nodes, get().edges));
      set(flags());
    },
  };
};
