// Hash routes, so a job's page is a link that survives Airflow's login round trip and needs no server
// routes: #/ (job list), #/jobs/<job id>, #/workspace (the canvas) and #/proposals.
import { useEffect, useState } from "react";
import { api } from "./api";
import { usePolling } from "./polling";
import { JobList } from "./views/JobList";
import { JobPage } from "./views/JobPage";
import { Proposals } from "./views/Proposals";
import { Workspace } from "./views/Workspace";

function useHash(): string {
  const [hash, setHash] = useState(window.location.hash);
  useEffect(() => {
    const changed = () => setHash(window.location.hash);
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  return hash;
}

export function App() {
  const hash = useHash();
  const party = usePolling(() => api.party(), 0, []);
  const match = /^#\/jobs\/(.+)$/.exec(hash);
  return (
    <>
      <header className="top">
        <a href="#/" className="brand">
          PowerFL
        </a>
        <a href="#/">Jobs</a>
        <a href="#/workspace">Workspace</a>
        <a href="#/proposals">Proposals</a>
        {party.data && (
          <span className="muted" data-testid="party">
            party {party.data.party_id} · {party.data.role}
          </span>
        )}
        <a className="airflow-link" href="../">
          Airflow
        </a>
      </header>
      <main>
        {match ? <JobPage key={match[1]} jobId={decodeURIComponent(match[1])} /> : hash === "#/workspace" ? <Workspace /> : hash === "#/proposals" ? <Proposals /> : <JobList />}
      </main>
    </>
  );
}
