// @vitest-environment jsdom
import "../test/jsdom";
import { beforeEach, describe, expect, it } from "vitest";
import type { HistoryEntry, QueueEntry } from "../lib/api";
import { serveHttp } from "../test/fakeServer";
import { createEditorStore } from "./index";
import { jobsFrom } from "./jobs";

const entry = (n: number, id: string): QueueEntry => [n, id, {}, {}, []];
const finished = (n: number, id: string) => ({ prompt: entry(n, id) }) as unknown as HistoryEntry;

beforeEach(() => localStorage.clear());

describe("the side panel's lists", () => {
  it("show the server's queue as it is, and its history newest first", () => {
    const jobs = jobsFrom(
      { queue_running: [entry(3, "c")], queue_pending: [entry(4, "d")] },
      { a: finished(1, "a"), b: finished(2, "b") },
    );
    expect(jobs.running).toEqual([entry(3, "c")]);
    expect(jobs.pending).toEqual([entry(4, "d")]);
    expect(jobs.finished.map(([id]) => id)).toEqual(["b", "a"]);
  });

  it("show the latest lists even when an older reply arrives last", async () => {
    let answerFirst: () => void = () => {};
    const firstHeld = new Promise<void>((resolve) => (answerFirst = resolve));
    serveHttp({
      "GET /api/queue": async (call: number) => {
        if (call === 1) await firstHeld;
        return { queue_running: [], queue_pending: call === 1 ? [entry(1, "old")] : [entry(2, "new")] };
      },
      "GET /api/history": {},
    });
    const store = createEditorStore();
    const older = store.getState().refreshJobs();
    await store.getState().refreshJobs();
    answerFirst();
    await older;
    expect(store.getState().jobs.pending).toEqual([entry(2, "new")]);
  });
});
