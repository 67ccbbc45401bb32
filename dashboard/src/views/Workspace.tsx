// The workspace canvas: drag components from the catalog, connect outputs to inputs of the same kind, fill
// each step's parameters in a form generated from its schema, see the pipeline YAML beside it, and save it,
// which proposes it to the parties it names. Opening a stored pipeline draws it; saving an edit is a new version.
import {
  addEdge, Background, Controls, ReactFlow, ReactFlowProvider, useEdgesState, useNodesState, useReactFlow,
  type Connection, type Edge,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { useCallback, useMemo, useState, type DragEvent } from "react";
import { stringify } from "yaml";
import { api } from "../api";
import { ErrorLine } from "../components/common";
import { usePolling } from "../polling";
import { workspaceApi } from "../workspace/api";
import { compatible, fromDefinition, toDefinition, type Component, type Link, type Settings } from "../workspace/model";
import { PipelinePanel } from "../workspace/PipelinePanel";
import { formErrors, SchemaForm } from "../workspace/SchemaForm";
import { TaskNodeView, type TaskFlowNode } from "../workspace/TaskNodeView";

const NODE_TYPES = { task: TaskNodeView };
const DRAG_TYPE = "application/x-powerfl-component";

function taskName(component: Component, taken: Set<string>): string {
  const base = component.task.component === "train" ? "train" : component.id;
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
  return name;
}

function Palette({ catalog }: { catalog: Component[] }) {
  const start = (event: DragEvent, id: string) => {
    event.dataTransfer.setData(DRAG_TYPE, id);
    event.dataTransfer.effectAllowed = "move";
  };
  return (
    <aside className="palette" aria-label="components">
      <h3>Components</h3>
      {catalog.map((c) => (
        <div key={c.id} className={`palette-item group-${c.group}`} draggable data-component={c.id}
          onDragStart={(e) => start(e, c.id)} title={c.parameters.description}>
          {c.title}
        </div>
      ))}
    </aside>
  );
}

function Canvas({ catalog, party }: { catalog: Component[]; party: string }) {
  const byId = useMemo(() => new Map(catalog.map((c) => [c.id, c])), [catalog]);
  const [nodes, setNodes, onNodesChange] = useNodesState<TaskFlowNode>([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState<Edge>([]);
  const [selected, setSelected] = useState<string>();
  const [settings, setSettings] = useState<Settings>({ dag_id: "", description: "", parties: party, defaults: {} });
  const [openError, setOpenError] = useState<Error>();
  const flow = useReactFlow();
  const pipelines = usePolling(() => api.pipelines(), 0, []);

  const portOf = useCallback(
    (nodeId: string | null, handle: string | null | undefined, side: "inputs" | "outputs") => {
      const node = nodes.find((n) => n.id === nodeId);
      return node?.data.component[side].find((p) => p.name === handle);
    },
    [nodes],
  );
  const isValidConnection = useCallback(
    (c: Connection | Edge) =>
      c.source !== c.target && compatible(portOf(c.source, c.sourceHandle, "outputs"), portOf(c.target, c.targetHandle, "inputs")),
    [portOf],
  );
  const onConnect = useCallback((c: Connection) => setEdges((es) => addEdge({ ...c, id: `${c.source}.${c.sourceHandle}->${c.target}.${c.targetHandle}` }, es)), [setEdges]);

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    const component = byId.get(event.dataTransfer.getData(DRAG_TYPE));
    if (!component) return;
    const position = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY });
    const id = taskName(component, new Set(nodes.map((n) => n.id)));
    setNodes((ns) => [...ns, { id, type: "task", position, data: { component, params: {}, invalid: false } }]);
    setSelected(id);
  };

  const links: Link[] = edges.map((e) => ({ source: e.source, sourcePort: e.sourceHandle ?? "", target: e.target, targetPort: e.targetHandle ?? "" }));
  const tasks = nodes.map((n) => ({ id: n.id, component: n.data.component.id, params: n.data.params, x: n.position.x, y: n.position.y }));
  const definition = toDefinition(settings, tasks, links, byId);
  const invalid = nodes.filter((n) => Object.keys(formErrors(n.data.component.parameters, n.data.params)).length).map((n) => n.id);
  const current = nodes.find((n) => n.id === selected);

  const setParams = (id: string, params: Record<string, unknown>) =>
    setNodes((ns) => ns.map((n) => (n.id === id ? { ...n, data: { ...n.data, params, invalid: Object.keys(formErrors(n.data.component.parameters, params)).length > 0 } } : n)));

  const open = (pipelineId: string) => {
    if (!pipelineId) return;
    workspaceApi.pipeline(pipelineId).then((p) => {
      const drawn = fromDefinition(p.definition, catalog);
      setSettings(drawn.settings);
      setNodes(drawn.nodes.map((t) => ({ id: t.id, type: "task", position: { x: t.x, y: t.y },
        data: { component: byId.get(t.component) as Component, params: t.params, invalid: false } })));
      setEdges(drawn.links.map((l) => ({ id: `${l.source}.${l.sourcePort}->${l.target}.${l.targetPort}`, source: l.source,
        sourceHandle: l.sourcePort, target: l.target, targetHandle: l.targetPort })));
      setOpenError(undefined);
      window.setTimeout(() => flow.fitView(), 50);
    }, setOpenError);
  };

  return (
    <div className="workspace">
      <Palette catalog={catalog} />
      <section className="canvas-column">
        <div className="filters">
          <label>
            open a pipeline
            <select data-testid="open-pipeline" defaultValue="" onChange={(e) => open(e.target.value)}>
              <option value="">(new)</option>
              {pipelines.data?.pipelines.map((p) => <option key={p.pipeline_id} value={p.pipeline_id}>{p.pipeline_id}</option>)}
            </select>
          </label>
          <ErrorLine error={openError} />
        </div>
        <div className="canvas" data-testid="canvas" onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = "move"; }} onDrop={onDrop}>
          <ReactFlow nodes={nodes} edges={edges} nodeTypes={NODE_TYPES} onNodesChange={onNodesChange} onEdgesChange={onEdgesChange}
            onConnect={onConnect} isValidConnection={isValidConnection} onNodeClick={(_, n) => setSelected(n.id)}
            onPaneClick={() => setSelected(undefined)} deleteKeyCode={["Delete", "Backspace"]} defaultViewport={{ x: 0, y: 0, zoom: 1 }}>
            <Background />
            <Controls />
          </ReactFlow>
        </div>
        {current && (
          <div className="step-form" data-testid="step-form" data-task={current.id}>
            <h3>{current.data.component.title} <span className="muted">· {current.id}</span></h3>
            <SchemaForm schema={current.data.component.parameters} values={current.data.params} onChange={(v) => setParams(current.id, v)} />
          </div>
        )}
      </section>
      <PipelinePanel settings={settings} onSettings={setSettings} yaml={stringify(definition)} definition={definition} invalid={invalid} />
    </div>
  );
}

export function Workspace() {
  const catalog = usePolling(() => workspaceApi.components(), 0, []);
  const party = usePolling(() => api.party(), 0, []);
  if (!catalog.data || !party.data) return <ErrorLine error={catalog.error ?? party.error} />;
  return (
    <ReactFlowProvider>
      <Canvas catalog={catalog.data.components} party={`${party.data.party_id}=${party.data.role}`} />
    </ReactFlowProvider>
  );
}
