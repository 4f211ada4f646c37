// A node on the canvas, drawn from its schema: typed ports (colour + tooltip), widgets,
// run state (queued, running with progress, cached, done, error), images, and the server's
// validation errors on the node and on the inputs at fault. It subscribes to its own run
// entry, problems, schema and (while it runs) the preview: another node's update passes it by.
import { useNodeConnections, type NodeProps } from "@xyflow/react";
import { useNodePreview, useNodeProblems, useNodeRun, useSchema } from "../hooks/useNodeState";
import type { DiffNode } from "../lib/graph";
import type { NodeRun } from "../lib/runstate";
import type { Problem } from "../lib/types";
import type { SeedControl } from "../lib/widgets";
import { InputRow, NodeImages, Outputs, ProgressBar, Title } from "./NodeParts";

function StatusBadge({ status }: { status: NodeRun["status"] }) {
  if (status === "idle") return null;
  return (
    <span className={`badge badge-${status}`} data-testid="node-status">
      {status}
    </span>
  );
}

function NodeErrors({ messages }: { messages: string[] }) {
  return messages.map((message, k) => (
    <div key={k} className="node-error" data-testid="node-error">
      {message}
    </div>
  ));
}

export function DiffNodeView({ id, data, selected }: NodeProps<DiffNode>) {
  const schema = useSchema(data.nodeType);
  const run = useNodeRun(id);
  const problems = useNodeProblems(id);
  const preview = useNodePreview(id);
  const connections = useNodeConnections({ handleType: "target" });
  const errorText = run.status === "error" ? run.error : undefined;
  const hasError = problems.length > 0 || errorText !== undefined;
  const classes = ["dg-node", `status-${run.status}`, hasError && "has-error", selected && "selected"];
  const className = classes.filter(Boolean).join(" ");

  if (!schema) {
    return (
      <div className={`${className} has-error`} data-testid="node" data-status="error">
        <header>
          <span className="title">{data.title ?? data.nodeType}</span>
        </header>
        <NodeErrors messages={[`unknown node type ${data.nodeType}: no installed pack declares it`]} />
      </div>
    );
  }
  const onUnknownInput = (p: Problem) => !p.input || !schema.inputs.some((i) => i.name === p.input);
  const linked = new Set(connections.map((c) => c.targetHandle));
  const seedControls = (data.ui.seed_control ?? {}) as Record<string, SeedControl>;
  const inputs = [...schema.inputs.filter((i) => i.kind === "port"), ...schema.inputs.filter((i) => i.kind === "widget")];
  return (
    <div className={className} data-testid="node" data-status={hasError ? "error" : run.status} title={schema.description}>
      <header>
        <Title id={id} shown={data.title ?? schema.title} />
        <StatusBadge status={run.status} />
      </header>
      {run.progress && <ProgressBar {...run.progress} />}
      <NodeErrors messages={[...problems.filter(onUnknownInput).map((p) => p.message), ...(errorText ? [errorText] : [])]} />
      <Outputs outputs={schema.outputs} />
      {inputs.map((spec) => (
        <InputRow
          key={spec.name}
          node={id}
          spec={spec}
          value={data.values[spec.name]}
          seedControls={seedControls}
          linked={linked.has(spec.name)}
          problems={problems}
        />
      ))}
      {run.status === "running" && preview && (
        <img className="preview" src={preview} alt="latent preview" data-testid="node-preview" />
      )}
      <NodeImages images={run.images ?? []} />
    </div>
  );
}
