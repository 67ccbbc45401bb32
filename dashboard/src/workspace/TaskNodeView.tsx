// One task on the canvas: its component, its task id, an input handle per input port (left) and an output
// handle per output port (right), each named by its port and coloured by its kind (only a port of the same
// kind connects: model.ts `compatible`).
import { Handle, Position, type NodeProps, type Node } from "@xyflow/react";
import type { Component } from "./model";

export type TaskNodeData = { component: Component; params: Record<string, unknown>; invalid: boolean };
export type TaskFlowNode = Node<TaskNodeData, "task">;

const TITLE_PX = 40; // the ports sit below the title and the task id
const PORT_PX = 20;

function top(index: number): number {
  return TITLE_PX + PORT_PX * index + PORT_PX / 2;
}

export function TaskNodeView({ id, data, selected }: NodeProps<TaskFlowNode>) {
  const { component } = data;
  return (
    <div className={`task-node group-${component.group}${selected ? " selected" : ""}${data.invalid ? " invalid" : ""}`}
      data-task={id} data-component={component.id}
      style={{ height: TITLE_PX + PORT_PX * Math.max(component.inputs.length, component.outputs.length) + 6 }}>
      <div className="task-title">{component.title}</div>
      <div className="task-id">{id}</div>
      {component.inputs.map((port, i) => (
        <Handle key={`in-${port.name}`} id={port.name} type="target" position={Position.Left}
          className={`port kind-${port.kind}`} style={{ top: top(i) }} title={`${port.name} (${port.kind})`}>
          <span className="port-label in">{port.name}</span>
        </Handle>
      ))}
      {component.outputs.map((port, i) => (
        <Handle key={`out-${port.name}`} id={port.name} type="source" position={Position.Right}
          className={`port kind-${port.kind}`} style={{ top: top(i) }} title={`${port.name} (${port.kind})`}>
          <span className="port-label out">{port.name}</span>
        </Handle>
      ))}
    </div>
  );
}
