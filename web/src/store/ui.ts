// What is shown over the canvas: one short message at a time (errors stay longer), the
// add-node palette, the workflows dialog, an image enlarged; and React Flow's instance, for
// the actions that need the viewport (fit view after opening, where to put a new node).
import type { Edge, ReactFlowInstance, XYPosition } from "@xyflow/react";
import type { FlowNode } from "../lib/graph";
import type { Slice } from "./index";

export interface Toast {
  text: string;
  kind: "info" | "error";
}

export interface UiSlice {
  toast: Toast | null;
  palette: XYPosition | null; // where a picked node goes, in flow coordinates
  dialog: { focusSave: boolean } | null;
  lightbox: string | null; // the URL of the image shown large
  notes: string[] | null; // what an imported A1111 PNG's workflow does not reproduce
  flow: ReactFlowInstance<FlowNode, Edge> | null;
  say: (text: string) => void;
  sayError: (text: string) => void;
  /** Open the palette for a node at `at` (screen coordinates; the canvas's centre if none). */
  openPalette: (at?: XYPosition) => void;
  closePalette: () => void;
  openDialog: (dialog: { focusSave: boolean }) => void;
  closeDialog: () => void;
  showImage: (url: string | null) => void;
  showNotes: (notes: string[] | null) => void;
  setFlow: (flow: ReactFlowInstance<FlowNode, Edge>) => void;
}

export const TOAST_MS = { info: 3000, error: 8000 };

export const uiSlice: Slice<UiSlice> = (set, get) => {
  let dismiss: ReturnType<typeof setTimeout> | undefined;
  const show = (toast: Toast) => {
    clearTimeout(dismiss);
    set({ toast });
    dismiss = setTimeout(() => set({ toast: null }), TOAST_MS[toast.kind]);
  };
  return {
    toast: null,
    palette: null,
    dialog: null,
    lightbox: null,
    notes: null,
    flow: null,
    say: (text) => show({ text, kind: "info" }),
    sayError: (text) => show({ text, kind: "error" }),
    openPalette: (at) => {
      void get().refreshSchemas(); // e.g. a node pack was installed
      const box = document.querySelector(".react-flow")?.getBoundingClientRect();
      const centre = box ? { x: box.left + box.width / 2, y: box.top + box.height / 2 } : { x: 400, y: 300 };
      const screen = at ?? centre;
      set({ palette: get().flow?.screenToFlowPosition(screen) ?? screen });
    },
    closePalette: () => set({ palette: null }),
    openDialog: (dialog) => set({ dialog }),
    closeDialog: () => set({ dialog: null }),
    showImage: (lightbox) => set({ lightbox }),
    showNotes: (notes) => set({ notes }),
    setFlow: (flow) => set({ flow }),
  };
};
