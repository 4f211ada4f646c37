// The side panel's lists: the server's queue (running, pending) and history, refetched when
// the server reports a change, and the gallery of this session's output images.
import { api, type HistoryEntry, type QueueEntry } from "../lib/api";
import type { ImageRef } from "../lib/types";
import type { Slice } from "./index";

export interface Jobs {
  running: QueueEntry[];
  pending: QueueEntry[];
  finished: [string, HistoryEntry][]; // newest first
}

export interface JobsSlice {
  jobs: Jobs;
  gallery: ImageRef[]; // oldest first, as they came
  refreshJobs: () => Promise<void>;
  removeJob: (promptId: string) => void;
  addToGallery: (images: ImageRef[]) => void;
}

export const noJobs: Jobs = { running: [], pending: [], finished: [] };

/** The lists from the server's two replies. */
export function jobsFrom(
  queue: { queue_running: QueueEntry[]; queue_pending: QueueEntry[] },
  history: Record<string, HistoryEntry>,
): Jobs {
  return { running: queue.queue_running, pending: queue.queue_pending, finished: Object.entries(history).reverse() };
}

export const jobsSlice: Slice<JobsSlice> = (set, get) => {
  // Replies may arrive out of order; only the latest request's is shown.
  let latest = 0;
  return {
    jobs: noJobs,
    gallery: [],
    refreshJobs: async () => {
      const request = ++latest;
      try {
        const [queue, history] = await Promise.all([api.queue(), api.history(50)]);
        if (request === latest) set({ jobs: jobsFrom(queue, history) });
      } catch (e) {
        get().sayError((e as Error).message);
      }
    },
    removeJob: (promptId) => {
      api.deleteQueued([promptId]).catch((e: Error) => get().sayError(e.message)); // the server's status message refreshes the list
    },
    addToGallery: (images) => set({ gallery: [...get().gallery, ...images] }),
  };
};
