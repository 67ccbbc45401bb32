// The pipeline beside the canvas: its id, description, parties and defaults, the YAML the canvas draws, and
// the two ways on: save (= propose to the parties it names) and run (a job of the saved pipeline, with the
// seed's job parameters; it starts only once every party accepted this version where a policy requires it).
import { useState } from "react";
import { parse } from "yaml";
import { ErrorLine } from "../components/common";
import { workspaceApi, type SaveReply } from "./api";
import type { Settings } from "./model";

function YamlField({ label, value, onValue, testId }: { label: string; value: unknown; onValue: (v: Record<string, unknown>) => void; testId: string }) {
  const [text, setText] = useState(() => (value && Object.keys(value).length ? JSON.stringify(value) : ""));
  const [error, setError] = useState<string>();
  return (
    <label className={error ? "invalid" : ""}>
      {label}
      <textarea data-testid={testId} rows={3} value={text} onChange={(e) => {
        setText(e.target.value);
        try {
          const parsed = e.target.value.trim() ? parse(e.target.value) : {};
          if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("expected a mapping");
          onValue(parsed);
          setError(undefined);
        } catch (err) {
          setError((err as Error).message);
        }
      }} />
      {error && <span className="field-error">{error}</span>}
    </label>
  );
}

export function PipelinePanel({ settings, onSettings, yaml, definition, invalid }: {
  settings: Settings; onSettings: (s: Settings) => void; yaml: string; definition: unknown; invalid: string[];
}) {
  const [comment, setComment] = useState("");
  const [saved, setSaved] = useState<SaveReply>();
  const [saveError, setSaveError] = useState<Error>();
  const [jobParameters, setJobParameters] = useState("");
  const [runError, setRunError] = useState<Error>();
  const set = (patch: Partial<Settings>) => onSettings({ ...settings, ...patch });
  const blocked = invalid.length > 0 || !settings.dag_id;

  const save = () =>
    workspaceApi.save(definition, comment).then((reply) => { setSaved(reply); setSaveError(undefined); }, (err: Error) => { setSaved(undefined); setSaveError(err); });
  const run = () => {
    let parameters: unknown;
    try {
      parameters = parse(jobParameters);
    } catch (err) {
      setRunError(err as Error);
      return;
    }
    workspaceApi.run(settings.dag_id, parameters).then((reply) => { window.location.hash = `#/jobs/${encodeURIComponent(reply.job_id)}`; }, setRunError);
  };

  return (
    <aside className="pipeline-panel">
      <h3>Pipeline</h3>
      <div className="settings">
        <label>id <input data-testid="dag-id" value={settings.dag_id} onChange={(e) => set({ dag_id: e.target.value })} /></label>
        <label>description <input data-testid="description" value={settings.description} onChange={(e) => set({ description: e.target.value })} /></label>
        <label>parties <input data-testid="parties" value={settings.parties} onChange={(e) => set({ parties: e.target.value })} /></label>
        <YamlField key={settings.dag_id ? "loaded" : "new"} label="defaults (YAML)" testId="defaults" value={settings.defaults} onValue={(defaults) => set({ defaults })} />
      </div>
      <pre className="yaml" data-testid="pipeline-yaml">{yaml}</pre>
      {invalid.length > 0 && <div className="error-line" data-testid="invalid-steps">fix the parameters of: {invalid.join(", ")}</div>}
      <label>comment <input data-testid="proposal-comment" value={comment} onChange={(e) => setComment(e.target.value)} /></label>
      <button data-testid="save" disabled={blocked} onClick={save}>Save and propose</button>
      <ErrorLine error={saveError} />
      {saved && (
        <div className="saved" data-testid="saved" data-version={saved.proposal.version}>
          saved {saved.pipeline_id}; version {saved.proposal.version?.slice(0, 12)}
          {saved.proposal.sent_to?.length ? `, proposed to ${saved.proposal.sent_to.join(", ")}` : ""}
          {saved.proposal.error ? ` (${saved.proposal.error})` : ""}
          {Object.entries(saved.proposal.missed ?? {}).map(([p, why]) => <div key={p} className="error-line">not reached: {p}: {why}</div>)}
        </div>
      )}
      <h3>Run</h3>
      <label>job parameters (YAML)
        <textarea data-testid="job-parameters" rows={6} value={jobParameters} onChange={(e) => setJobParameters(e.target.value)} />
      </label>
      <button data-testid="run" disabled={!settings.dag_id || !jobParameters.trim()} onClick={run}>Run</button>
      <ErrorLine error={runError} />
    </aside>
  );
}
