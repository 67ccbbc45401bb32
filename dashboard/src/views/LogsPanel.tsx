// This party's log of one step, with a level filter; refreshed while the job runs.
import { useState } from "react";
import { api } from "../api";
import { ErrorLine } from "../components/common";
import { usePolling } from "../polling";
import type { Step } from "../types";

const LEVELS = ["debug", "info", "warning", "error", "critical"];

export function LogsPanel({ jobId, steps, finished }: { jobId: string; steps: Step[]; finished: boolean }) {
  const [step, setStep] = useState(steps[0]?.task_id ?? "");
  const [minLevel, setMinLevel] = useState("info");
  const logs = usePolling(() => api.logs(jobId, step), finished ? 0 : 3000, [jobId, step, finished]);
  const floor = LEVELS.indexOf(minLevel);
  const lines = (logs.data?.lines ?? []).filter((line) => {
    const rank = LEVELS.indexOf((line.level ?? "info").toLowerCase());
    return rank < 0 || rank >= floor;
  });
  return (
    <div data-testid="logs">
      <div className="filters">
        <label>
          Step
          <select name="log-step" value={step} onChange={(e) => setStep(e.target.value)}>
            {steps.map((s) => (
              <option key={s.task_id}>{s.task_id}</option>
            ))}
          </select>
        </label>
        <label>
          Level at least
          <select name="log-level" value={minLevel} onChange={(e) => setMinLevel(e.target.value)}>
            {LEVELS.map((l) => (
              <option key={l}>{l}</option>
            ))}
          </select>
        </label>
        {logs.data && (
          <span className="muted">
            try {logs.data.try_number} · {lines.length} of {logs.data.lines.length} lines
          </span>
        )}
      </div>
      <ErrorLine error={logs.error} />
      <pre className="log">
        {lines.map((line, i) => (
          <div key={i} className={`log-${(line.level ?? "info").toLowerCase()}`} data-level={line.level ?? ""}>
            <span className="muted">{line.timestamp ?? ""}</span> <strong>{line.level ?? ""}</strong> {line.event}
          </div>
        ))}
      </pre>
    </div>
  );
}
