// Linking ports: only an output to an input of the same type, never into a loop, one link
// per input (a new one replaces the old). A refused drop says why.
import type { Connection, Edge, FinalConnectionState } from "@xyflow/react";
import { useCallback } from "react";
import { makeEdge, wouldCycle } from "../lib/graph";
import { canConnect } from "../lib/ports";
import type { GraphApi } from "./graphApi";

export function useConnections({ latest, setEdges, commit, sayError }: GraphApi) {
  const portType = useCallback(
    (node: string, handle: string | null | undefined, output: boolean) => {
      const n = latest.current.nodes.find((x) => x.id === node);
      const schema = n?.type === "diff" ? latest.current.schemas[n.data.nodeType] : undefined;
      return (output ? schema?.outputs : schema?.inputs)?.find((p) => p.name === handle)?.type;
    },
    [latest],
  );
  const isValidConnection = useCallback(
    (c: Connection | Edge) =>
      canConnect(portType(c.source, c.sourceHandle, true), portType(c.target, c.targetHandle, false)) &&
      !wouldCycle(latest.current.edges, c.source, c.target),
    [latest, portType],
  );
  const onConnect = useCallback(
    (c: Connection) => {
      const edge = makeEdge(c.source, c.sourceHandle ?? "", c.target, c.targetHandle ?? "");
      setEdges((all) => [...all.filter((e) => e.id !== edge.id), edge]);
      commit();
    },
    [setEdges, commit],
  );
  const onConnectEnd = useCallback(
    (_: MouseEvent | TouchEvent, state: FinalConnectionState) => {
      const from = state.fromHandle;
      const to = state.toHandle;
      if (!from || !to || state.isValid || from.type === to.type) return;
      const [source, target] = from.type === "source" ? [from, to] : [to, from];
      const a = portType(source.nodeId, source.id, true) ?? "?";
      const b = portType(target.nodeId, target.id, false) ?? "?";
      sayError(a === b ? "not connected: that link would make a loop" : `not connected: ${source.id} is ${a}, ${target.id} takes ${b}`);
    },
    [portType, sayError],
  );
  return { isValidConnection, onConnect, onConnectEnd };
}
