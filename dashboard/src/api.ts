// The flow-server client. The page is served by the same api-server, so the user's Airflow session cookie
// (`_token`, set by Airflow's login) goes with every call, as with Airflow's own UI; a 401 sends the user to
// Airflow's login with next= back here (hash included, so deep links survive the round trip).
import type { ActionReply, AlignedData, JobAction, JobDetail, JobList, Logs, Metrics, Models, Party, Pipeline } from "./types";

const API_ROOT = new URL("../flow-server/", document.baseURI);
const LOGIN = new URL("../api/v2/auth/login", document.baseURI);

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function toLogin(): void {
  const next = encodeURIComponent(window.location.href);
  window.location.replace(`${LOGIN.href}?next=${next}`);
}

export async function call<T>(path: string, init: RequestInit = {}): Promise<T> {
  const reply = await fetch(new URL(path, API_ROOT), {
    credentials: "same-origin",
    ...init,
    headers: { Accept: "application/json", ...(init.headers as Record<string, string> | undefined) },
  });
  if (reply.status === 401) {
    toLogin();
    throw new ApiError(401, "Not authenticated");
  }
  const body = await reply.json().catch(() => ({ detail: reply.statusText }));
  if (!reply.ok) throw new ApiError(reply.status, String(body.detail ?? reply.statusText));
  return body as T;
}

export interface JobFilters {
  state?: string;
  pipeline?: string;
  party?: string;
  role?: string;
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== "") q.set(key, String(value));
  const text = q.toString();
  return text ? `?${text}` : "";
}

const job = (id: string) => `jobs/${encodeURIComponent(id)}`;

export const api = {
  party: () => call<Party>("party"),
  pipelines: () => call<{ pipelines: Pipeline[]; total: number }>("pipelines"),
  jobs: (filters: JobFilters, offset = 0, limit = 50) => call<JobList>(`jobs${query({ ...filters, offset, limit })}`),
  job: (id: string) => call<JobDetail>(job(id)),
  metrics: (id: string, threshold?: number) => call<Metrics>(`${job(id)}/metrics${query({ threshold })}`),
  models: (id: string) => call<Models>(`${job(id)}/models`),
  // a plain link: the browser sends the session cookie and saves the .tar.gz itself
  modelDownloadUrl: (id: string, step: string) => new URL(`${job(id)}/models/${encodeURIComponent(step)}/download`, API_ROOT).href,
  data: (id: string, step?: string) => call<AlignedData>(`${job(id)}/data${query({ step })}`),
  logs: (id: string, step: string) => call<Logs>(`${job(id)}/logs${query({ step })}`),
  act: (id: string, action: JobAction) => call<ActionReply>(`${job(id)}/${action}`, { method: "POST" }),
  remove: (id: string) => call<{ job_id: string; deleted: boolean }>(job(id), { method: "DELETE" }),
};
