import { describe, expect, it } from "vitest";
import { importNotes, isRebuilt } from "./importNotes";

describe("import notes", () => {
  it("each note reads as setting, value and why", () => {
    const meta = { import_notes: [{ setting: "Sampler", value: "Restart", note: "no sampler of ours matches it; euler used" }] };
    expect(importNotes({ meta })).toEqual(["Sampler: Restart: no sampler of ours matches it; euler used"]);
  });

  it("a document of ours has none and was not rebuilt", () => {
    expect(importNotes({ meta: { title: "mine" } })).toEqual([]);
    expect(isRebuilt({ meta: { title: "mine" } })).toBe(false);
  });

  it("entries that are not notes are left out", () => {
    const meta = { import_notes: ["text", null, { setting: "VAE", value: "x.pt", note: "not among your VAEs" }] };
    expect(importNotes({ meta })).toEqual(["VAE: x.pt: not among your VAEs"]);
    expect(isRebuilt({ meta })).toBe(true);
  });
});
