// Small pieces every view uses: a state badge, a progress bar, an error line.
import { percent } from "../format";

export function StateBadge({ state }: { state: string | null | undefined }) {
  const label = state ?? "no news";
  return (
    <span className={`badge state-${label.replace(/[^a-z_]/g, "")}`} data-state={label}>
      {label}
    </span>
  );
}

export function ProgressBar({ fraction, label }: { fraction: number; label?: string }) {
  const bounded = Math.max(0, Math.min(1, fraction));
  return (
    <div className="progress" role="progressbar" aria-valuenow={Math.round(bounded * 100)} aria-valuemin={0} aria-valuemax={100}>
      <div className="progress-fill" style={{ width: percent(bounded) }} />
      <span className="progress-label">{label ?? percent(bounded)}</span>
    </div>
  );
}

export function ErrorLine({ error }: { error: Error | undefined }) {
  return error ? <div className="error-line">{error.message}</div> : null;
}
