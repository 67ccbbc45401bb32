// The pipeline's steps x the job's parties: each cell the step's state there ("not started" here, "no news"
// from a peer that has sent none, "—" for a step whose state peers are not told) and, while a training step
// runs, its live progress (epoch or tree, loss, ETA) as the step reports it.
import { ProgressBar, StateBadge } from "../components/common";
import { duration, full } from "../format";
import type { JobDetail, Progress } from "../types";

export function StepsGrid({ job }: { job: JobDetail }) {
  const parties = Object.entries(job.parties);
  return (
    <table className="grid" data-testid="steps-grid">
      <thead>
        <tr>
          <th>Step</th>
          {parties.map(([id, party]) => (
            <th key={id} data-party={id}>
              {id} · {party.role}
              {party.local ? " (here)" : ""} <StateBadge state={party.state} />
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {job.steps.map((step) => (
          <tr key={step.task_id} data-step={step.task_id}>
            <th>
              {step.task_id} <span className="muted">{step.component}</span>
            </th>
            {parties.map(([id, party]) => {
              const cell = party.steps[step.task_id];
              if (!cell && !party.local)
                return (
                  <td key={id} data-party={id} className="muted" title="a step peers are not told about">
                    —
                  </td>
                );
              return (
                <td key={id} data-party={id}>
                  <StateBadge state={cell?.state ?? (party.local ? "not started" : null)} />
                  {cell?.try_number && cell.try_number > 1 ? <span className="muted"> try {cell.try_number}</span> : null}
                  {cell?.progress && <LiveProgress progress={cell.progress} />}
                </td>
              );
            })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function LiveProgress({ progress }: { progress: Progress }) {
  const of = progress.of ?? "?";
  const part = progress.steps && progress.step ? ` · batch ${progress.step}/${progress.steps}` : "";
  const label = `${progress.unit} ${progress.done} of ${of}${part}`;
  const fraction = progress.fraction ?? (progress.of ? progress.done / progress.of : 0);
  return (
    <div
      className="live"
      data-testid="live-progress"
      data-unit={progress.unit}
      data-done={progress.done}
      data-of={progress.of ?? ""}
      data-fraction={fraction}
      data-loss={progress.loss ?? ""}
      data-eta={progress.eta_s ?? ""}
      title={`reported ${new Date(progress.updated_at).toLocaleTimeString()}, ${duration(progress.elapsed_s)} into training`}
    >
      <ProgressBar fraction={fraction} label={label} />
      <span className="muted">
        {progress.loss !== null && <>loss {full(progress.loss)} · </>}
        ETA {duration(progress.eta_s)}
      </span>
    </div>
  );
}
