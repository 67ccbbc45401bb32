// The workspace's shapes (GET /flow-server/components, /proposals; docs/workspace.md) and the mapping between
// a drawn graph and a pipeline YAML mapping (jobs/pipeline.py): an edge into an `inputs_from` port becomes
// the target task's inputs_from, into a `depends_on` port its depends_on, and a port with a `parameter`
// writes the source task's id into that parameter (summary's train_task, wait_peers' peer_task).

export interface JsonSchema {
  type?: string;
  title?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  anyOf?: JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
}

export interface Port {
  name: string;
  kind: string;
  link: "inputs_from" | "depends_on" | null;
  parameter: string | null;
}

export interface Component {
  id: string;
  title: string;
  group: string;
  task: { component: string; step?: string; parameters?: Record<string, unknown> };
  inputs: Port[];
  outputs: Port[];
  parameters: JsonSchema;
}

export interface Decision {
  kind: "proposal" | "decision";
  pipeline_id: string;
  version: string;
  party: string;
  user: string;
  decision: "accept" | "reject";
  comment: string;
  at: number;
  parties: string[];
  id: string;
}

export interface Proposal extends Decision {
  state: "accepted" | "rejected" | "pending";
  decisions: Record<string, Decision>;
  current: boolean;
  current_version: string | null;
}

export interface ProposalDetail extends Proposal {
  yaml: string;
  current_yaml: string;
  diff: string;
}

export interface Proposals {
  proposals: Proposal[];
  history: Decision[];
  refused: { id: string; reason: string; at: number }[];
  sync_error: string | null;
}

export interface TaskNode {
  id: string; // the task id
  component: string; // the catalog id
  params: Record<string, unknown>;
  x: number;
  y: number;
}

export interface Link {
  source: string;
  sourcePort: string;
  target: string;
  targetPort: string;
}

export interface Settings {
  dag_id: string;
  description: string;
  parties: string; // "10000=guest, 20000=host"
  defaults: Record<string, unknown>;
  accept_timeout?: number;
}

type Mapping = Record<string, unknown>;

export function compatible(out: Port | undefined, into: Port | undefined): boolean {
  return !!out && !!into && out.kind === into.kind;
}

function linked(links: Link[], target: string, ports: Port[], which: Port["link"]): string[] {
  const names = new Set(ports.filter((p) => p.link === which).map((p) => p.name));
  return [...new Set(links.filter((l) => l.target === target && names.has(l.targetPort)).map((l) => l.source))];
}

/** The pipeline mapping a graph draws (what POST /flow-server/pipelines takes). */
export function toDefinition(settings: Settings, nodes: TaskNode[], links: Link[], catalog: Map<string, Component>): Mapping {
  const tasks: Mapping = {};
  for (const node of nodes) {
    const component = catalog.get(node.component);
    if (!component) continue;
    const params: Mapping = { ...(component.task.parameters ?? {}), ...node.params };
    for (const port of component.inputs.filter((p) => p.parameter)) {
      const source = links.find((l) => l.target === node.id && l.targetPort === port.name);
      if (source) params[port.parameter as string] = source.source;
    }
    const task: Mapping = { component: component.task.component };
    if (component.task.step) task.step = component.task.step;
    if (Object.keys(params).length) task.parameters = params;
    const inputsFrom = linked(links, node.id, component.inputs, "inputs_from");
    const dependsOn = linked(links, node.id, component.inputs, "depends_on").filter((s) => !inputsFrom.includes(s));
    if (inputsFrom.length) task.inputs_from = inputsFrom;
    if (dependsOn.length) task.depends_on = dependsOn;
    tasks[node.id] = task;
  }
  const parties = settings.parties.split(/[,\s]+/).filter(Boolean);
  const definition: Mapping = { dag_id: settings.dag_id, description: settings.description, parties };
  if (settings.accept_timeout !== undefined) definition.accept_timeout = settings.accept_timeout;
  if (Object.keys(settings.defaults).length) definition.defaults = settings.defaults;
  definition.tasks = tasks;
  return definition;
}

function componentOf(task: Mapping, catalog: Component[]): Component | undefined {
  const params = (task.parameters ?? {}) as Mapping;
  return catalog.find(
    (c) =>
      c.task.component === task.component &&
      (c.task.step ?? null) === ((task.step as string | undefined) ?? null) &&
      Object.entries(c.task.parameters ?? {}).every(([k, v]) => (params[k] ?? "hetero_lr") === v),
  );
}

function asList(value: unknown): string[] {
  if (typeof value === "string") return [value];
  return Array.isArray(value) ? value.map(String) : [];
}

/** A stored pipeline drawn: one node per task (laid out by depth), one edge per dependency. */
export function fromDefinition(definition: Mapping, catalog: Component[]): { settings: Settings; nodes: TaskNode[]; links: Link[] } {
  const tasks = (definition.tasks ?? {}) as Record<string, Mapping>;
  const byId = new Map<string, Component>();
  const depth = new Map<string, number>();
  const depthOf = (id: string, seen = new Set<string>()): number => {
    if (depth.has(id)) return depth.get(id) as number;
    if (seen.has(id) || !tasks[id]) return 0;
    seen.add(id);
    const ups = [...asList(tasks[id].inputs_from), ...asList(tasks[id].depends_on)];
    const d = ups.length ? 1 + Math.max(...ups.map((u) => depthOf(u, seen))) : 0;
    depth.set(id, d);
    return d;
  };
  const rows = new Map<number, number>();
  const nodes: TaskNode[] = [];
  for (const [id, task] of Object.entries(tasks)) {
    const component = componentOf(task, catalog);
    if (!component) continue;
    byId.set(id, component);
    const d = depthOf(id);
    const row = rows.get(d) ?? 0;
    rows.set(d, row + 1);
    const params = { ...((task.parameters ?? {}) as Mapping) };
    for (const key of [...Object.keys(component.task.parameters ?? {}), ...component.inputs.map((p) => p.parameter)]) {
      if (key) delete params[key];
    }
    nodes.push({ id, component: component.id, params, x: 40 + d * 230, y: 40 + row * 150 });
  }
  const links: Link[] = [];
  const add = (source: string, target: string, port: Port) => {
    const out = byId.get(source)?.outputs.find((o) => o.kind === port.kind) ?? byId.get(source)?.outputs[0];
    if (out && !links.some((l) => l.source === source && l.target === target && l.targetPort === port.name)) {
      links.push({ source, sourcePort: out.name, target, targetPort: port.name });
    }
  };
  for (const [id, task] of Object.entries(tasks)) {
    const component = byId.get(id);
    if (!component) continue;
    const params = (task.parameters ?? {}) as Mapping;
    for (const port of component.inputs.filter((p) => p.parameter && typeof params[p.parameter] === "string")) {
      add(params[port.parameter as string] as string, id, port);
    }
    for (const source of [...asList(task.inputs_from), ...asList(task.depends_on)]) {
      const kinds = byId.get(source)?.outputs.map((o) => o.kind) ?? [];
      const port = component.inputs.find((p) => p.link && kinds.includes(p.kind)) ?? component.inputs.find((p) => p.link);
      if (port && !links.some((l) => l.source === source && l.target === id)) add(source, id, port);
    }
  }
  const { dag_id, description, parties, defaults, accept_timeout } = definition as Record<string, unknown>;
  const settings: Settings = {
    dag_id: String(dag_id ?? ""),
    description: String(description ?? ""),
    parties: asList(parties).join(", "),
    defaults: (defaults ?? {}) as Mapping,
    accept_timeout: typeof accept_timeout === "number" ? accept_timeout : undefined,
  };
  return { settings, nodes, links };
}
