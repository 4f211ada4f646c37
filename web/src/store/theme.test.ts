// @vitest-environment jsdom
import "../test/jsdom";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createEditorStore } from "./index";
import { initialDark } from "./theme";

const systemPrefers = (dark: boolean) => {
  const original = window.matchMedia;
  window.matchMedia = (query: string) => ({ ...original(query), matches: dark && query.includes("dark") });
  return () => (window.matchMedia = original);
};

let restore = () => {};
beforeEach(() => localStorage.clear());
afterEach(() => restore());

describe("light or dark", () => {
  it("follows the system at first", () => {
    restore = systemPrefers(true);
    expect(initialDark()).toBe(true);
  });

  it("the user's last choice wins over the system's", () => {
    restore = systemPrefers(true);
    localStorage.setItem("diffgraph.theme", "light");
    expect(initialDark()).toBe(false);
  });

  it("a switch is remembered for the next visit", () => {
    const store = createEditorStore();
    const before = store.getState().dark;
    store.getState().toggleTheme();
    expect(store.getState().dark).toBe(!before);
    expect(createEditorStore().getState().dark).toBe(!before);
  });
});
