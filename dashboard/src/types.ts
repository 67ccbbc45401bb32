// The flow-server's JSON shapes (docs/flow_server.md), as the dashboard reads them.

export type JobState = "queued" | "running" | "paused" | "success" | "failed";

export interface PartySummary {
  role: string;
  state: string;
}

export interface JobSummary {
  job_id: string;
  pipeline_id: string;
  state: JobState;
  role: string;
  initiator: string;
  parties: Record<string, PartySummary>;
  progress: number;
  start_date: string | null;
  end_date: string | null;
  duration_s: number | null;
}

export interface JobList {
  jobs: JobSummary[];
  total: number;
  offset: number;
  limit: number;
}

export interface Progress {
  unit: "epoch" | "tree";
  done: number;
  of: number | null;
  step: number;
  steps: number;
  fraction: number | null;
  loss: number | null;
  eta_s: number | null;
  elapsed_s: number;
  updated_at: string;
}

export interface StepState {
  state: string | null;
  start_date: string | null;
  end_date: string | null;
  try_number: number | null;
  progress: Progress | null;
}

export interface PartyError {
  reason: string;
  step: string | null;
  at: string;
}

export interface PartyDetail {
  role: string;
  state: string;
  local: boolean;
  steps: Record<string, StepState>;
  error: PartyError | null;
}

export interface Step {
  task_id: string;
  component: string;
  depends_on: string[];
}

export interface JobDetail extends Omit<JobSummary, "parties"> {
  steps: Step[];
  party_id: string;
  parties: Record<string, PartyDetail>;
}

export interface Confusion {
  threshold: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
}

export interface FeatureImportance {
  method: string;
  by_party: Record<string, { feature: string; importance: number; rank: number }[]>;
}

export interface Curves {
  roc: { fpr: number; tpr: number }[];
  ks: { population: number; tpr: number; fpr: number; gap: number }[];
  pr: { recall: number; precision: number }[];
  lift: { population: number; lift: number }[];
  gain: { population: number; gain: number }[];
  loss: { epoch: number; loss: number }[];
}

export interface Metrics {
  job_id: string;
  party_id: string;
  task_id: string;
  task: "binary" | "multiclass" | "regression";
  metrics: Record<string, unknown>;
  train_metrics: Record<string, unknown> | null;
  curves: Curves;
  confusion: Confusion | null;
  feature_importance: FeatureImportance | null;
}

export interface Model {
  task_id: string;
  model_id: string;
  version: number | string;
  root: string;
  algorithm: string | null;
}

export interface Models {
  job_id: string;
  party_id: string;
  models: Model[];
}

// The first 100 rows of this party's own aligned data (GET /jobs/{id}/data): never a peer's column.
export interface AlignedData {
  job_id: string;
  party_id: string;
  step: string;
  input: string;
  inputs: string[];
  id_column: string | null;
  label_column: string | null;
  columns: string[];
  rows: (string | number | boolean | null)[][];
  total_rows: number;
}

export interface LogLine {
  timestamp: string | null;
  level: string | null;
  event: string;
}

export interface Logs {
  job_id: string;
  party_id: string;
  step: string;
  try_number: number;
  lines: LogLine[];
}

export interface Party {
  party_id: string;
  role: string;
  dashboard: string;
  api: string;
}

export interface Pipeline {
  pipeline_id: string;
  description: string;
  parsed: boolean;
  parties: string[];
  tasks: Step[];
}

export type JobAction = "stop" | "pause" | "resume" | "rerun";

export interface ActionReply {
  job_id: string;
  action: JobAction;
  state: string;
  peers_told: string[];
  changed: boolean;
}
