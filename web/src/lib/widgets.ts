// What a widget is and how its value behaves, from the input's schema alone.
import type { InputSpec, Literal } from "./types";

export type WidgetKind = "seed" | "slider" | "number" | "choice" | "multiline" | "text" | "toggle";

export function widgetKind(spec: InputSpec): WidgetKind {
  if (spec.choices) return "choice";
  switch (spec.type) {
    case "BOOLEAN":
      return "toggle";
    case "INT":
    case "FLOAT":
      if (spec.randomize) return "seed";
      return spec.slider && spec.min !== undefined && spec.max !== undefined ? "slider" : "number";
    default:
      return spec.multiline ? "multiline" : "text";
  }
}

// Integers past 2^53 do not survive a JS number: bounds are kept within what is exact.
const SAFE_MAX = Number.MAX_SAFE_INTEGER;

export function bounds(spec: InputSpec): { min: number; max: number } {
  return {
    min: Math.max(spec.min ?? -SAFE_MAX, -SAFE_MAX),
    max: Math.min(spec.max ?? SAFE_MAX, SAFE_MAX),
  };
}

export function stepOf(spec: InputSpec): number {
  if (spec.multiple_of) return spec.multiple_of;
  if (spec.step) return spec.step;
  return spec.type === "INT" ? 1 : 0.01;
}

/** A typed-in number made valid: within bounds, whole for INT, on the multiple_of grid. */
export function normalizeNumber(spec: InputSpec, raw: number): number {
  const { min, max } = bounds(spec);
  let value = Number.isFinite(raw) ? raw : Number(spec.default ?? min);
  if (spec.type === "INT") value = Math.round(value);
  value = Math.min(max, Math.max(min, value));
  const grid = spec.multiple_of;
  if (grid) {
    value = Math.round(value / grid) * grid; // the nearest multiple within the bounds
    if (value < min) value += grid;
    if (value > max) value -= grid;
  }
  if (spec.type === "FLOAT") value = Number(value.toFixed(6)); // no 0.30000000000000004
  return value;
}

/** A new random seed within the input's bounds (uniform, integer). */
export function randomSeed(spec: InputSpec, random: () => number = Math.random): number {
  const { min, max } = bounds(spec);
  const low = max < 0 ? min : Math.max(min, 0); // seeds are non-negative where they may be
  return low + Math.floor(random() * (max - low + 1));
}

/** The value a new node starts with. */
export function defaultValue(spec: InputSpec): Literal {
  if (spec.default !== undefined) return spec.default as Literal;
  if (spec.choices) return spec.choices[0] ?? "";
  switch (spec.type) {
    case "BOOLEAN":
      return false;
    case "INT":
    case "FLOAT":
      return normalizeNumber(spec, 0);
    default:
      return "";
  }
}

/** What "after queue" does to a seed widget, as stored in the node's ui. */
export type SeedControl = "fixed" | "randomize";
