// This party's own part of the job's models (the API serves no peer's), each downloadable as .tar.gz.
import { api } from "../api";
import { ErrorLine } from "../components/common";
import { full } from "../format";
import { usePolling } from "../polling";

export function ModelsPanel({ jobId, finished }: { jobId: string; finished: boolean }) {
  const models = usePolling(() => api.models(jobId), finished ? 0 : 5000, [jobId, finished]);
  return (
    <div data-testid="models">
      <ErrorLine error={models.error} />
      {models.data && models.data.models.length === 0 && <p className="muted">No model at this party yet.</p>}
      {models.data && models.data.models.length > 0 && (
        <table>
          <thead>
            <tr>
              <th>Step</th>
              <th>Model</th>
              <th>Version</th>
              <th>Algorithm</th>
              <th>Stored at (this party)</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {models.data.models.map((m) => (
              <tr key={`${m.task_id}/${m.model_id}`} data-model={m.model_id}>
                <td>{m.task_id}</td>
                <td>{m.model_id}</td>
                <td>{full(m.version)}</td>
                <td>{full(m.algorithm)}</td>
                <td>
                  <code>{m.root}</code>
                </td>
                <td>
                  <a className="button" href={api.modelDownloadUrl(jobId, m.task_id)} download data-testid="model-download">
                    Download
                  </a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
