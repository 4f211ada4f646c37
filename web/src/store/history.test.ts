// @vitest-environment jsdom
import "../test/jsdom";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { readAutosave } from "../lib/autosave";
import type { DiffNode } from "../lib/graph";
import { chain, schemas } from "../test/graphs";
import { storeWith } from "../test/store";
import type { EditorStore } from "./index";

const steps = (store: EditorStore) => (store.getState().nodes.find((n) => n.id === "2") as DiffNode).data.values.steps;

beforeEach(() => {
  localStorage.clear();
  vi.useFakeTimers();
});
afterEach(() => vi.useRealTimers());

describe("undo and redo", () => {
  it("an edited value is undone and redone", () => {
    const store = storeWith(chain(3), schemas);
    store.getState().setValue("2", "steps", 30);
    store.getState().undo();
    expect(steps(store)).toBe(20);
    store.getState().redo();
    expect(steps(store)).toBe(30);
  });

  it("undo is offered once an edit has been recorded, redo once something was undone", () => {
    const store = storeWith(chain(3), schemas);
    expect(store.getState()).toMatchObject({ canUndo: false, canRedo: false });
    store.getState().setValue("2", "steps", 30);
    vi.runAllTimers();
    expect(store.getState()).toMatchObject({ canUndo: true, canRedo: false });
    store.getState().undo();
    expect(store.getState()).toMatchObject({ canUndo: false, canRedo: true });
  });

  it("typing is one step once the user pauses, not one per key", () => {
    const store = storeWith(chain(3), schemas);
    for (const text of ["a", "a c", "a ca", "a cat"]) store.getState().setValue("2", "text", text, false);
    vi.runAllTimers();
    store.getState().undo();
    expect((store.getState().nodes[1] as DiffNode).data.values.text).toBeUndefined(); // as opened
    expect(store.getState().canUndo).toBe(false);
  });

  it("opening a workflow starts the history afresh", () => {
    const store = storeWith(chain(3), schemas);
    store.getState().setValue("2", "steps", 30);
    vi.runAllTimers();
    store.getState().openDoc(chain(4), "other.json");
    expect(store.getState().canUndo).toBe(false);
  });
});

describe("autosave", () => {
  it("keeps the graph with its last recorded edit, under the workflow's name", () => {
    const store = storeWith(chain(3), schemas, "mine.json");
    store.getState().setValue("2", "steps", 30);
    vi.runAllTimers();
    const saved = readAutosave();
    expect(saved?.name).toBe("mine.json");
    expect(saved?.doc.nodes["2"].inputs.steps).toBe(30);
  });
});
