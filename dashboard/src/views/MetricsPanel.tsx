// The evaluation report as charts: ROC, KS, precision-recall, lift, gain, loss per epoch, feature
// importance, and the confusion matrix at a threshold the user picks; scalar metrics in a table, in full.
import { useEffect, useState } from "react";
import { api, ApiError } from "../api";
import { Chart } from "../charts/Chart";
import { confusionOption, gainOption, importanceOption, ksOption, liftOption, lossOption, prOption, rocOption } from "../charts/options";
import { ErrorLine } from "../components/common";
import { full } from "../format";
import { usePolling } from "../polling";
import type { Metrics } from "../types";

export function MetricsPanel({ jobId, finished }: { jobId: string; finished: boolean }) {
  const report = usePolling(() => api.metrics(jobId), finished ? 0 : 5000, [jobId, finished]);
  if (report.error instanceof ApiError && report.error.status === 404)
    return <p className="muted" data-testid="no-metrics">{report.error.message}</p>;
  if (!report.data) return <ErrorLine error={report.error} />;
  return <Report report={report.data} />;
}

function Report({ report }: { report: Metrics }) {
  const { curves, metrics } = report;
  const charts = [
    curves.roc.length > 0 && <Chart key="roc" name="roc" option={rocOption(curves, metrics.auc)} />,
    curves.ks.length > 0 && <Chart key="ks" name="ks" option={ksOption(curves, metrics.ks)} />,
    curves.pr.length > 0 && <Chart key="pr" name="pr" option={prOption(curves)} />,
    curves.lift.length > 0 && <Chart key="lift" name="lift" option={liftOption(curves)} />,
    curves.gain.length > 0 && <Chart key="gain" name="gain" option={gainOption(curves)} />,
    curves.loss.length > 0 && <Chart key="loss" name="loss" option={lossOption(curves)} />,
  ];
  return (
    <div data-testid="metrics">
      <p className="muted">
        {report.task} report of step {report.task_id} at party {report.party_id}
      </p>
      <div className="scalar-tables">
        <ScalarTable title="Metrics" values={metrics} />
        {report.train_metrics && <ScalarTable title="On the training rows" values={report.train_metrics} />}
      </div>
      <div className="charts">{charts}</div>
      {report.task === "binary" && <ConfusionAtThreshold jobId={report.job_id} initial={report.confusion?.threshold ?? 0.5} />}
      {report.feature_importance && (
        <Chart name="importance" option={importanceOption(report.feature_importance)} height={Math.max(260, 22 * countFeatures(report))} />
      )}
    </div>
  );
}

const countFeatures = (report: Metrics) =>
  Object.values(report.feature_importance?.by_party ?? {}).reduce((n, features) => n + features.length, 0);

function ScalarTable({ title, values }: { title: string; values: Record<string, unknown> }) {
  const scalars = Object.entries(values).filter(([, v]) => typeof v === "number" || typeof v === "string");
  return (
    <table className="scalars" data-testid={`scalars-${title}`}>
      <caption>{title}</caption>
      <tbody>
        {scalars.map(([key, value]) => (
          <tr key={key} data-metric={key}>
            <th>{key}</th>
            <td>{full(value)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ConfusionAtThreshold({ jobId, initial }: { jobId: string; initial: number }) {
  const [threshold, setThreshold] = useState(initial);
  const [asked, setAsked] = useState(initial);
  useEffect(() => {
    const timer = window.setTimeout(() => setAsked(threshold), 250); // one request per pause of the slider
    return () => window.clearTimeout(timer);
  }, [threshold]);
  const at = usePolling(() => api.metrics(jobId, asked), 0, [jobId, asked]);
  const c = at.data?.confusion;
  return (
    <div className="confusion" data-testid="confusion">
      <label>
        Threshold <strong data-testid="threshold">{threshold.toFixed(2)}</strong>
        <input
          type="range"
          name="threshold"
          min={0}
          max={1}
          step={0.01}
          value={threshold}
          onChange={(e) => setThreshold(Number(e.target.value))}
        />
      </label>
      <ErrorLine error={at.error} />
      {c && (
        <div className="confusion-body">
          <Chart name="confusion" option={confusionOption(c)} height={240} />
          <ScalarTable title="At this threshold" values={{ accuracy: c.accuracy, precision: c.precision, recall: c.recall, f1: c.f1 }} />
        </div>
      )}
    </div>
  );
}
