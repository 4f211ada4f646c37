// Port types: a colour each (the same type always looks the same) and the one rule for
// edges: an output connects to an input of exactly its type.

const COLORS: Record<string, string> = {
  MODEL: "#b39ddb",
  CLIP: "#ffd54f",
  VAE: "#ef5350",
  CONDITIONING: "#ffa726",
  LATENT: "#f06292",
  IMAGE: "#64b5f6",
  MASK: "#81c784",
  CONTROL_NET: "#4db6ac",
  INT: "#9fa8da",
  FLOAT: "#a5d6a7",
  STRING: "#bcaaa4",
  BOOLEAN: "#90a4ae",
};

export function portColor(type: string): string {
  const known = COLORS[type];
  if (known) return known;
  let hash = 0; // a stable colour for a type this table does not know (a plugin's)
  for (const ch of type) hash = (hash * 31 + ch.charCodeAt(0)) | 0;
  return `hsl(${Math.abs(hash) % 360} 55% 62%)`;
}

export function canConnect(outputType: string | undefined, inputType: string | undefined): boolean {
  return outputType !== undefined && outputType === inputType;
}
