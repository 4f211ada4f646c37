import { describe, expect, it } from "vitest";
import { canConnect, portColor } from "./ports";

const KNOWN = ["MODEL", "CLIP", "VAE", "CONDITIONING", "LATENT", "IMAGE", "MASK", "CONTROL_NET", "INT", "FLOAT", "STRING", "BOOLEAN"];
const HEX = /^#[0-9a-f]{6}$/i;
const HSL = /^hsl\((\d+) 55% 62%\)$/;

describe("canConnect", () => {
  it("connects an output to an input of exactly its type", () => {
    expect(canConnect("LATENT", "LATENT")).toBe(true);
    expect(canConnect("MY_PLUGIN_TYPE", "MY_PLUGIN_TYPE")).toBe(true);
  });

  it("refuses different types, including near misses", () => {
    expect(canConnect("LATENT", "IMAGE")).toBe(false);
    expect(canConnect("INT", "FLOAT")).toBe(false);
    expect(canConnect("image", "IMAGE")).toBe(false);
  });

  it("refuses when either type is unknown (undefined)", () => {
    expect(canConnect(undefined, "IMAGE")).toBe(false);
    expect(canConnect("IMAGE", undefined)).toBe(false);
    expect(canConnect(undefined, undefined)).toBe(false);
  });
});

describe("portColor", () => {
  it("gives each known type a hex colour, stable across calls", () => {
    for (const type of KNOWN) {
      expect(portColor(type)).toMatch(HEX);
      expect(portColor(type)).toBe(portColor(type));
    }
  });

  it("gives the known types distinct colours", () => {
    expect(new Set(KNOWN.map(portColor)).size).toBe(KNOWN.length);
  });

  it("gives unknown types a stable hsl colour with a hue in 0..359", () => {
    for (const type of ["UPSCALE_MODEL", "", "A", "X".repeat(500), "ÜNÏCODE_✓"]) {
      const colour = portColor(type);
      const match = HSL.exec(colour);
      expect(match, colour).not.toBeNull();
      expect(Number(match?.[1])).toBeLessThan(360);
      expect(portColor(type)).toBe(colour);
    }
  });

  it("tells different unknown types apart", () => {
    expect(portColor("UPSCALE_MODEL")).not.toBe(portColor("CLIP_VISION"));
  });
});
