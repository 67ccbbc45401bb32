// The first 100 rows of this party's own aligned data (an align step's output): the ids in the intersection,
// its own label if it holds one, its own features. The API serves no peer's column.
import { useState } from "react";
import { api } from "../api";
import { ErrorLine } from "../components/common";
import { full } from "../format";
import { usePolling } from "../polling";
import type { Step } from "../types";

export function DataPanel({ jobId, steps, finished }: { jobId: string; steps: Step[]; finished: boolean }) {
  const aligns = steps.filter((s) => s.component === "align");
  const [step, setStep] = useState(aligns[0]?.task_id ?? "");
  const data = usePolling(() => api.data(jobId, step || undefined), finished ? 0 : 5000, [jobId, step, finished]);
  return (
    <div data-testid="aligned-data">
      {aligns.length > 1 && (
        <div className="filters">
          <label>
            Align step
            <select name="data-step" value={step} onChange={(e) => setStep(e.target.value)}>
              {aligns.map((s) => (
                <option key={s.task_id}>{s.task_id}</option>
              ))}
            </select>
          </label>
        </div>
      )}
      <ErrorLine error={data.error} />
      {data.data && (
        <>
          <p className="muted">
            Party {data.data.party_id}'s own aligned <code>{data.data.input}</code> of step {data.data.step}: first{" "}
            {data.data.rows.length} of {data.data.total_rows} rows in the intersection (own columns only).
          </p>
          <div className="table-scroll">
            <table data-testid="aligned-table">
              <thead>
                <tr>
                  {data.data.columns.map((c) => (
                    <th key={c} className={c === data.data?.label_column ? "label-column" : undefined}>
                      {c}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {data.data.rows.map((row, i) => (
                  <tr key={i}>
                    {row.map((value, j) => (
                      <td key={j}>{full(value)}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </div>
  );
}
