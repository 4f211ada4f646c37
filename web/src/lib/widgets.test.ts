import { describe, expect, it } from "vitest";
import type { InputSpec } from "./types";
import { bounds, defaultValue, normalizeNumber, randomSeed, widgetKind } from "./widgets";

const spec = (over: Partial<InputSpec>): InputSpec => ({
  name: "x",
  type: "INT",
  kind: "widget",
  required: true,
  ...over,
});

const HUGE = 18446744073709551615; // the server's u64 seed maximum
const SAFE = Number.MAX_SAFE_INTEGER;

describe("widgetKind", () => {
  it("is a choice whenever choices are given, whatever the type", () => {
    expect(widgetKind(spec({ type: "STRING", choices: ["euler", "heun"] }))).toBe("choice");
    expect(widgetKind(spec({ type: "INT", choices: ["1", "2"] }))).toBe("choice");
  });

  it("is a toggle for BOOLEAN", () => {
    expect(widgetKind(spec({ type: "BOOLEAN" }))).toBe("toggle");
  });

  it("is a seed for a randomizable number, even with slider bounds", () => {
    expect(widgetKind(spec({ randomize: true, min: 0, max: HUGE }))).toBe("seed");
    expect(widgetKind(spec({ type: "FLOAT", randomize: true, slider: true, min: 0, max: 1 }))).toBe("seed");
  });

  it("is a slider only when slider is set and both min and max exist", () => {
    expect(widgetKind(spec({ type: "FLOAT", slider: true, min: 0, max: 1 }))).toBe("slider");
    expect(widgetKind(spec({ type: "FLOAT", slider: true, min: 0 }))).toBe("number");
    expect(widgetKind(spec({ type: "INT", slider: true, max: 10 }))).toBe("number");
    expect(widgetKind(spec({ type: "INT", min: 0, max: 10 }))).toBe("number");
  });

  it("is a number for plain INT and FLOAT", () => {
    expect(widgetKind(spec({ type: "INT" }))).toBe("number");
    expect(widgetKind(spec({ type: "FLOAT", step: 0.1 }))).toBe("number");
  });

  it("is multiline or text for strings and other types", () => {
    expect(widgetKind(spec({ type: "STRING", multiline: true }))).toBe("multiline");
    expect(widgetKind(spec({ type: "STRING" }))).toBe("text");
    expect(widgetKind(spec({ type: "SOMETHING_ELSE" }))).toBe("text");
  });
});

describe("bounds", () => {
  it("keeps ordinary bounds as they are", () => {
    expect(bounds(spec({ min: 16, max: 16384 }))).toEqual({ min: 16, max: 16384 });
  });

  it("clamps huge or missing bounds to the safe integer range", () => {
    expect(bounds(spec({ min: 0, max: HUGE }))).toEqual({ min: 0, max: SAFE });
    expect(bounds(spec({ min: -9223372036854775808, max: HUGE }))).toEqual({ min: -SAFE, max: SAFE });
    expect(bounds(spec({}))).toEqual({ min: -SAFE, max: SAFE });
  });
});

describe("normalizeNumber", () => {
  const steps = spec({ type: "INT", default: 20, min: 1, max: 10000 });
  const width = spec({ type: "INT", default: 512, min: 16, max: 16384, multiple_of: 8 });
  const cfg = spec({ type: "FLOAT", default: 8, min: 0, max: 100, step: 0.1 });

  it("clamps to min and max", () => {
    expect(normalizeNumber(steps, 0)).toBe(1);
    expect(normalizeNumber(steps, -50)).toBe(1);
    expect(normalizeNumber(steps, 123456)).toBe(10000);
    expect(normalizeNumber(cfg, 101.5)).toBe(100);
  });

  it("rounds INT values to whole numbers", () => {
    expect(normalizeNumber(steps, 20.4)).toBe(20);
    expect(normalizeNumber(steps, 20.6)).toBe(21);
  });

  it("snaps to the multiple_of grid (width multiple of 8)", () => {
    expect(normalizeNumber(width, 513)).toBe(512);
    expect(normalizeNumber(width, 515)).toBe(512);
    expect(normalizeNumber(width, 517)).toBe(520);
    expect(normalizeNumber(width, 3)).toBe(16);
    expect(normalizeNumber(width, 99999)).toBe(16384);
  });

  it("removes floating point noise", () => {
    expect(normalizeNumber(cfg, 0.1 + 0.2)).toBe(0.3);
    const tenth = spec({ type: "FLOAT", min: 0, max: 1, multiple_of: 0.1 });
    expect(normalizeNumber(tenth, 0.31)).toBe(0.3);
    expect(normalizeNumber(tenth, 0.7)).toBe(0.7);
  });

  it("falls back to the default for NaN and infinities", () => {
    expect(normalizeNumber(steps, Number.NaN)).toBe(20);
    expect(normalizeNumber(cfg, Number.POSITIVE_INFINITY)).toBe(8);
    expect(normalizeNumber(spec({ type: "INT", min: 5, max: 9 }), Number.NaN)).toBe(5);
  });
});

describe("randomSeed", () => {
  const seed = spec({ randomize: true, min: 0, max: HUGE });

  it("gives integers within bounds at the ends of random()'s range", () => {
    for (const r of [0, 0.5, 0.999999]) {
      const value = randomSeed(seed, () => r);
      expect(Number.isSafeInteger(value)).toBe(true);
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThanOrEqual(SAFE);
    }
    expect(randomSeed(seed, () => 0)).toBe(0);
  });

  it("covers a small range inclusively", () => {
    const small = spec({ randomize: true, min: 5, max: 10 });
    expect(randomSeed(small, () => 0)).toBe(5);
    expect(randomSeed(small, () => 0.999999)).toBe(10);
    expect(randomSeed(small, () => 0.5)).toBe(8);
  });

  it("never goes negative when min is negative", () => {
    const signed = spec({ randomize: true, min: -100, max: 100 });
    expect(randomSeed(signed, () => 0)).toBe(0);
    expect(randomSeed(signed, () => 0.999999)).toBe(100);
  });

  it("uses Math.random by default and stays in bounds", () => {
    for (let i = 0; i < 100; i++) {
      const value = randomSeed(spec({ min: 0, max: 9 }));
      expect(Number.isInteger(value) && value >= 0 && value <= 9).toBe(true);
    }
  });
});

describe("defaultValue", () => {
  it("uses the schema default when there is one", () => {
    expect(defaultValue(spec({ type: "INT", default: 512 }))).toBe(512);
    expect(defaultValue(spec({ type: "STRING", default: "euler", choices: ["heun", "euler"] }))).toBe("euler");
    expect(defaultValue(spec({ type: "BOOLEAN", default: true }))).toBe(true);
  });

  it("takes the first choice, or an empty string for no choices", () => {
    expect(defaultValue(spec({ type: "STRING", choices: ["a.safetensors", "b.safetensors"] }))).toBe("a.safetensors");
    expect(defaultValue(spec({ type: "STRING", choices: [] }))).toBe("");
  });

  it("gives false, a valid number, or an empty string by type", () => {
    expect(defaultValue(spec({ type: "BOOLEAN" }))).toBe(false);
    expect(defaultValue(spec({ type: "INT" }))).toBe(0);
    expect(defaultValue(spec({ type: "INT", min: 1, max: 100 }))).toBe(1);
    expect(defaultValue(spec({ type: "FLOAT", min: 0.5, max: 2 }))).toBe(0.5);
    expect(defaultValue(spec({ type: "STRING" }))).toBe("");
    expect(defaultValue(spec({ type: "STRING", multiline: true }))).toBe("");
  });
});
