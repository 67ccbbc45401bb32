// One job, deep-linked as #/jobs/<job id>: its state at every party (refreshed every 1.5 s), each party's
// last error (a peer's as soon as its event arrives), the actions, and tabs for metrics, models and logs.
import { useState } from "react";
import { api, ApiError } from "../api";
import { ErrorLine, ProgressBar, StateBadge } from "../components/common";
import { duration, when } from "../format";
import { usePolling } from "../polling";
import type { JobDetail } from "../types";
import { Actions } from "./Actions";
import { LogsPanel } from "./LogsPanel";
import { MetricsPanel } from "./MetricsPanel";
import { DataPanel } from "./DataPanel";
import { ModelsPanel } from "./ModelsPanel";
import { StepsGrid } from "./StepsGrid";

const REFRESH_MS = 1500;
const TABS = ["metrics", "models", "data", "logs"] as const;
type Tab = (typeof TABS)[number];

export function JobPage({ jobId }: { jobId: string }) {
  const job = usePolling(() => api.job(jobId), REFRESH_MS, [jobId]);
  const [tab, setTab] = useState<Tab>("metrics");
  if (!job.data) {
    if (job.error instanceof ApiError && job.error.status === 404)
      return (
        <p className="muted" data-testid="job-unknown">
          Job {jobId} is not at this party yet ({job.error.message}); this page shows it as soon as it arrives.
        </p>
      );
    return <ErrorLine error={job.error} />;
  }
  const finished = job.data.state === "success" || job.data.state === "failed";
  return (
    <section data-testid="job-page" data-job-state={job.data.state}>
      <Header job={job.data} />
      <ErrorLine error={job.error} />
      <Actions job={job.data} onDone={(action) => (action === "delete" ? (window.location.hash = "#/") : job.refresh())} />
      <PartyErrors job={job.data} />
      <StepsGrid job={job.data} />
      <nav className="tabs">
        {TABS.map((t) => (
          <button key={t} type="button" data-tab={t} className={t === tab ? "active" : ""} onClick={() => setTab(t)}>
            {t}
          </button>
        ))}
      </nav>
      {tab === "metrics" && <MetricsPanel jobId={jobId} finished={finished} />}
      {tab === "models" && <ModelsPanel jobId={jobId} finished={finished} />}
      {tab === "data" && <DataPanel jobId={jobId} steps={job.data.steps} finished={finished} />}
      {tab === "logs" && <LogsPanel jobId={jobId} steps={job.data.steps} finished={finished} />}
    </section>
  );
}

function Header({ job }: { job: JobDetail }) {
  return (
    <header className="job-header">
      <h2>
        <a href="#/">Jobs</a> / <span data-testid="job-id">{job.job_id}</span> <StateBadge state={job.state} />
      </h2>
      <div className="muted">
        pipeline {job.pipeline_id} · here party {job.party_id} ({job.role}) · started by {job.initiator} · {when(job.start_date)} ·{" "}
        {duration(job.duration_s)}
      </div>
      <ProgressBar fraction={job.progress} />
    </header>
  );
}

function PartyErrors({ job }: { job: JobDetail }) {
  const errors = Object.entries(job.parties).filter(([, party]) => party.error);
  if (!errors.length) return null;
  return (
    <div className="party-errors" data-testid="party-errors">
      {errors.map(([id, party]) => (
        <div key={id} className="party-error" data-party={id}>
          <strong>
            Party {id} ({party.role}
            {party.local ? ", here" : ""})
          </strong>{" "}
          failed{party.error?.step ? ` at ${party.error.step}` : ""} ({when(party.error?.at)}): <span className="reason">{party.error?.reason}</span>
        </div>
      ))}
    </div>
  );
}
