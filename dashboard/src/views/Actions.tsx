// Stop / pause / resume / rerun / delete, each behind a confirmation; the reply (or refusal) is shown.
import { useState } from "react";
import { api } from "../api";
import { ConfirmDialog } from "../components/ConfirmDialog";
import type { JobAction, JobDetail } from "../types";

type Action = JobAction | "delete";

const QUESTIONS: Record<Action, string> = {
  stop: "Stop this job at every party? Its running steps are killed and every party's run fails.",
  pause: "Pause this job at every party? Running steps finish; no new step starts until resume.",
  resume: "Resume this job at every party?",
  rerun: "Rerun this job from its failed steps? Every party reruns its failed steps of the job.",
  delete: "Delete this job's run and outputs at this party? This cannot be undone.",
};

function enabled(action: Action, state: string): boolean {
  const active = state === "queued" || state === "running";
  return {
    stop: active || state === "paused",
    pause: active,
    resume: state === "paused",
    rerun: state === "failed",
    delete: !active && state !== "paused",
  }[action];
}

export function Actions({ job, onDone }: { job: JobDetail; onDone: (action: Action) => void }) {
  const [asking, setAsking] = useState<Action>();
  const [outcome, setOutcome] = useState<string>();

  const run = async (action: Action) => {
    setAsking(undefined);
    try {
      if (action === "delete") {
        await api.remove(job.job_id);
        setOutcome("deleted at this party");
      } else {
        const reply = await api.act(job.job_id, action);
        const told = reply.peers_told.length ? `; told ${reply.peers_told.join(", ")}` : "";
        setOutcome(`${action}: ${reply.changed ? reply.state : `already ${reply.state}`}${told}`);
      }
      onDone(action);
    } catch (err) {
      setOutcome(`${action} refused: ${(err as Error).message}`);
    }
  };

  return (
    <div className="actions">
      {(Object.keys(QUESTIONS) as Action[]).map((action) => (
        <button
          key={action}
          type="button"
          data-action={action}
          className={action === "stop" || action === "delete" ? "danger" : ""}
          disabled={!enabled(action, job.state)}
          onClick={() => setAsking(action)}
        >
          {action}
        </button>
      ))}
      {outcome && (
        <span className="muted" data-testid="action-outcome">
          {outcome}
        </span>
      )}
      {asking && (
        <ConfirmDialog
          title={`${asking} ${job.job_id}`}
          text={QUESTIONS[asking]}
          confirmLabel={asking}
          onConfirm={() => run(asking)}
          onCancel={() => setAsking(undefined)}
        />
      )}
    </div>
  );
}
