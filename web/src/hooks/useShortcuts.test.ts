// @vitest-environment jsdom
import "../test/jsdom";
import { describe, expect, it } from "vitest";
import { createEditorStore } from "../store";
import { shortcutFor } from "./useShortcuts";

const actions = createEditorStore().getState();
const press = (key: string, mods: { ctrl?: boolean; shift?: boolean } = {}, target: EventTarget | null = document.body) =>
  shortcutFor({ key, ctrlKey: !!mods.ctrl, metaKey: false, shiftKey: !!mods.shift, target }, actions);

describe("keyboard shortcuts", () => {
  it("Ctrl+Enter queues and Ctrl+S saves, even while typing in a field", () => {
    const field = document.createElement("textarea");
    expect(press("Enter", { ctrl: true }, field)).toBe(actions.queue);
    expect(press("s", { ctrl: true }, field)).toBe(actions.save);
  });

  it("Ctrl+Z in a field is the field's own undo, not the graph's", () => {
    expect(press("z", { ctrl: true }, document.createElement("input"))).toBeUndefined();
    expect(press("z", { ctrl: true })).toBe(actions.undo);
  });

  it("Ctrl+Y and Ctrl+Shift+Z redo", () => {
    expect(press("y", { ctrl: true })).toBe(actions.redo);
    expect(press("Z", { ctrl: true, shift: true })).toBe(actions.redo);
  });

  it("copy, paste, group and select all are on C, V, G and A", () => {
    expect(press("c", { ctrl: true })).toBe(actions.copy);
    expect(press("v", { ctrl: true })).toBe(actions.paste);
    expect(press("g", { ctrl: true })).toBe(actions.groupSelection);
    expect(press("a", { ctrl: true })).toBe(actions.selectAll);
  });

  it("Ctrl+K and Shift+A open the palette; a plain letter does nothing", () => {
    expect(press("k", { ctrl: true })).toBeTypeOf("function");
    expect(press("A", { shift: true })).toBeTypeOf("function");
    expect(press("a")).toBeUndefined();
  });
});
