// What the server's WebSocket says, folded into per-node run state (lib/runstate.ts), the
// latest latent preview, and the connection itself. Other slices follow along: finished
// images go to the gallery, and a change to the queue refreshes the side panel's lists.
import { initialRun, reduceRun, type Message, type RunState } from "../lib/runstate";
import type { Connection } from "../lib/socket";
import type { ImageRef } from "../lib/types";
import type { Slice } from "./index";

export interface RunSlice {
  run: RunState;
  preview: string | null; // object URL of the latest latent preview (of run.running)
  connection: Connection;
  receive: (message: Message) => void;
  receivePreview: (image: Blob) => void;
  setConnection: (connection: Connection) => void;
  /** Forget the shown run (another workflow was opened); the server's queue length stays. */
  clearRun: () => void;
}

/** The saved images a finished node reports (its previews and temporaries are not kept). */
export function outputImages(message: Message): ImageRef[] {
  if (message.type !== "executed") return [];
  const images = (message.data.output as { images?: ImageRef[] } | undefined)?.images ?? [];
  return images.filter((i) => i.type === "output");
}

/** Whether a message may change the queue or history lists (a sampler step does not). */
export function changesJobs(message: Message): boolean {
  return message.type !== "progress" && message.type !== "executing";
}

export const runSlice: Slice<RunSlice> = (set, get) => ({
  run: initialRun,
  preview: null,
  connection: "connecting",
  receive: (message) => {
    const drawn = get().nodes.filter((n) => n.type === "diff").map((n) => n.id);
    set({ run: reduceRun(get().run, message, drawn) });
    const images = outputImages(message);
    if (images.length) get().addToGallery(images);
    if (changesJobs(message)) void get().refreshJobs();
  },
  receivePreview: (image) => {
    const old = get().preview;
    if (old) URL.revokeObjectURL(old);
    set({ preview: URL.createObjectURL(image) });
  },
  setConnection: (connection) => set({ connection }),
  clearRun: () => set({ run: { ...initialRun, queueRemaining: get().run.queueRemaining } }),
});
