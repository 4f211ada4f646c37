// The server's shapes, as the editor reads them. Node schemas come from GET /v1/nodes
// (engine/node.py's schema()); no node is declared again here.

export interface InputSpec {
  name: string;
  type: string; // port type name: MODEL, LATENT, INT, STRING, ...
  kind: "port" | "widget";
  required: boolean;
  default?: unknown;
  description?: string;
  min?: number;
  max?: number;
  step?: number;
  multiple_of?: number;
  slider?: boolean;
  multiline?: boolean;
  randomize?: boolean; // a seed: may be randomized after each queue
  choices?: string[];
  dynamic_choices?: boolean; // the choices are files on disk: refreshed from the server
}

export interface OutputSpec {
  name: string;
  type: string;
}

export interface NodeSchema {
  id: string;
  version: number;
  title: string;
  category: string;
  description: string;
  output_node: boolean;
  comfy_class: string | null;
  pack: string;
  inputs: InputSpec[];
  outputs: OutputSpec[];
}

export type Schemas = Record<string, NodeSchema>;

export interface LinkValue {
  node: string;
  output: string;
}

export type Literal = string | number | boolean | null | unknown[];
export type InputValue = Literal | LinkValue;

export interface NodeUI {
  pos?: [number, number];
  size?: [number, number];
  title?: string;
  [extra: string]: unknown;
}

export interface WorkflowNode {
  type: string;
  inputs: Record<string, InputValue>;
  ui?: NodeUI;
}

export interface Group {
  title: string;
  bounding: [number, number, number, number]; // x, y, width, height
  color?: string;
  [extra: string]: unknown;
}

export interface WorkflowDoc {
  format: "diffgraph.workflow";
  version: 1;
  nodes: Record<string, WorkflowNode>;
  groups: Group[];
  ui: Record<string, unknown>;
  meta: Record<string, unknown>;
}

export interface ImageRef {
  filename: string;
  subfolder: string;
  type: string;
}

export interface Problem {
  code: string;
  message: string;
  node?: string | null;
  input?: string | null;
}

export function isLink(value: unknown): value is LinkValue {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as LinkValue).node === "string" &&
    typeof (value as LinkValue).output === "string"
  );
}
