// The workspace's calls: the component catalog, saving (= proposing) a pipeline, the proposals and the
// decisions, and starting a job of an agreed pipeline (docs/workspace.md).
import { call } from "../api";
import type { Component, ProposalDetail, Proposals } from "./model";

const json = (body: unknown): RequestInit => ({
  method: "POST",
  body: JSON.stringify(body),
  headers: { "Content-Type": "application/json" },
});
const proposal = (pipeline: string, version: string) => `proposals/${encodeURIComponent(pipeline)}/${version}`;

export interface SaveReply {
  pipeline_id: string;
  parsed: boolean;
  proposal: { version?: string; sent_to?: string[]; missed?: Record<string, string>; new?: boolean; error?: string };
}

export const workspaceApi = {
  components: () => call<{ components: Component[]; kinds: string[] }>("components"),
  pipeline: (id: string) => call<{ pipeline_id: string; definition: Record<string, unknown> }>(`pipelines/${encodeURIComponent(id)}`),
  save: (definition: unknown, comment: string) =>
    call<SaveReply>(`pipelines?overwrite=true&comment=${encodeURIComponent(comment)}`, json(definition)),
  proposals: () => call<Proposals>("proposals"),
  proposal: (pipeline: string, version: string) => call<ProposalDetail>(proposal(pipeline, version)),
  decide: (pipeline: string, version: string, decision: "accept" | "reject", comment: string) =>
    call<ProposalDetail & { missed: Record<string, string> }>(`${proposal(pipeline, version)}/decision`, json({ decision, comment })),
  run: (pipeline: string, parameters: unknown) =>
    call<{ job_id: string }>(`pipelines/${encodeURIComponent(pipeline)}/jobs`, json(parameters)),
};
