// The job list: this party's jobs, newest first, with each party's state, progress and duration;
// it refreshes itself every 2 s, and its filters are the API's (state, pipeline, party, role).
import { useState } from "react";
import { api, type JobFilters } from "../api";
import { ErrorLine, ProgressBar, StateBadge } from "../components/common";
import { duration, when } from "../format";
import { usePolling } from "../polling";
import type { JobSummary } from "../types";

const STATES = ["", "queued", "running", "paused", "success", "failed"];
const ROLES = ["", "guest", "host", "arbiter"];
const REFRESH_MS = 1500;

export function JobList() {
  const [filters, setFilters] = useState<JobFilters>({});
  const jobs = usePolling(() => api.jobs(filters), REFRESH_MS, [JSON.stringify(filters)]);
  const pipelines = usePolling(() => api.pipelines(), 0, []);
  const set = (key: keyof JobFilters) => (event: { target: { value: string } }) => setFilters({ ...filters, [key]: event.target.value });

  return (
    <section>
      <h2>Jobs</h2>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          State
          <select name="state" value={filters.state ?? ""} onChange={set("state")}>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s || "any"}
              </option>
            ))}
          </select>
        </label>
        <label>
          Pipeline
          <select name="pipeline" value={filters.pipeline ?? ""} onChange={set("pipeline")}>
            <option value="">any</option>
            {pipelines.data?.pipelines.map((p) => (
              <option key={p.pipeline_id} value={p.pipeline_id}>
                {p.pipeline_id}
              </option>
            ))}
          </select>
        </label>
        <label>
          Party
          <input name="party" placeholder="party id" value={filters.party ?? ""} onChange={set("party")} />
        </label>
        <label>
          Role here
          <select name="role" value={filters.role ?? ""} onChange={set("role")}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r || "any"}
              </option>
            ))}
          </select>
        </label>
        <span className="muted" data-testid="updated">
          {jobs.data ? `${jobs.data.total} jobs · updated ${jobs.updatedAt?.toLocaleTimeString()}` : "loading…"}
        </span>
      </form>
      <ErrorLine error={jobs.error} />
      <table className="jobs" data-testid="job-table">
        <thead>
          <tr>
            <th>Job</th>
            <th>Pipeline</th>
            <th>State</th>
            <th>Parties</th>
            <th>Progress here</th>
            <th>Started</th>
            <th>Duration</th>
          </tr>
        </thead>
        <tbody>
          {jobs.data?.jobs.map((job) => <JobRow key={job.job_id} job={job} />)}
        </tbody>
      </table>
      {jobs.data && jobs.data.jobs.length === 0 && <p className="muted">No jobs match.</p>}
    </section>
  );
}

function JobRow({ job }: { job: JobSummary }) {
  return (
    <tr data-job={job.job_id}>
      <td>
        <a href={`#/jobs/${encodeURIComponent(job.job_id)}`}>{job.job_id}</a>
      </td>
      <td>{job.pipeline_id}</td>
      <td>
        <StateBadge state={job.state} />
      </td>
      <td className="parties">
        {Object.entries(job.parties).map(([id, party]) => (
          <span key={id} className="party-state" data-party={id}>
            {id} {party.role} <StateBadge state={party.state} />
          </span>
        ))}
      </td>
      <td>
        <ProgressBar fraction={job.progress} />
      </td>
      <td>{when(job.start_date)}</td>
      <td>{duration(job.duration_s)}</td>
    </tr>
  );
}
