// The proposals this party knows: each pipeline version proposed, who proposed it, every named party's
// decision, and whether it is the version this party holds; one opened shows its diff against that version
// and takes this party's accept or reject with a comment. Below: the history of proposals and decisions, and
// any message refused (a bad signature, an altered pipeline).
import { useState } from "react";
import { ErrorLine, StateBadge } from "../components/common";
import { usePolling } from "../polling";
import { workspaceApi } from "../workspace/api";
import type { Decision, Proposal } from "../workspace/model";

const when = (at: number) => new Date(at * 1000).toISOString().replace("T", " ").slice(0, 19);
const short = (version: string) => version.slice(0, 12);

function Diff({ text }: { text: string }) {
  if (!text) return <p className="muted">identical to the version this party holds</p>;
  return (
    <pre className="diff" data-testid="diff">
      {text.split("\n").map((line, i) => (
        <div key={i} className={line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : ""}>{line}</div>
      ))}
    </pre>
  );
}

function Detail({ proposal, onDone }: { proposal: Proposal; onDone: () => void }) {
  const detail = usePolling(() => workspaceApi.proposal(proposal.pipeline_id, proposal.version), 0, [proposal.version, proposal.state]);
  const [comment, setComment] = useState("");
  const [error, setError] = useState<Error>();
  const decide = (decision: "accept" | "reject") =>
    workspaceApi.decide(proposal.pipeline_id, proposal.version, decision, comment).then(() => { setError(undefined); onDone(); }, setError);
  return (
    <section className="proposal-detail" data-testid="proposal-detail" data-version={proposal.version}>
      <h3>{proposal.pipeline_id} <span className="muted">version {short(proposal.version)}</span></h3>
      <p>proposed by party {proposal.party} ({proposal.user}) at {when(proposal.at)}{proposal.comment ? `: “${proposal.comment}”` : ""}</p>
      <ErrorLine error={detail.error} />
      {detail.data && <Diff text={detail.data.diff} />}
      <div className="actions">
        <input data-testid="decision-comment" placeholder="comment" value={comment} onChange={(e) => setComment(e.target.value)} />
        <button data-testid="accept" onClick={() => decide("accept")}>Accept</button>
        <button data-testid="reject" className="danger" onClick={() => decide("reject")}>Reject</button>
      </div>
      <ErrorLine error={error} />
    </section>
  );
}

function History({ history }: { history: Decision[] }) {
  return (
    <table data-testid="history">
      <caption>History</caption>
      <thead><tr><th>at</th><th>pipeline</th><th>version</th><th>party</th><th>user</th><th>what</th><th>comment</th></tr></thead>
      <tbody>
        {history.map((h) => (
          <tr key={h.id}>
            <td>{when(h.at)}</td><td>{h.pipeline_id}</td><td>{short(h.version)}</td><td>{h.party}</td><td>{h.user}</td>
            <td>{h.kind === "proposal" ? "proposed" : h.decision === "accept" ? "accepted" : "rejected"}</td><td>{h.comment}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Proposals() {
  const list = usePolling(() => workspaceApi.proposals(), 3000, []);
  const [open, setOpen] = useState<string>();
  const opened = list.data?.proposals.find((p) => p.id === open);
  return (
    <>
      <h2>Proposals</h2>
      <ErrorLine error={list.error} />
      {list.data?.sync_error && <div className="error-line">{list.data.sync_error}</div>}
      <table data-testid="proposals">
        <thead><tr><th>pipeline</th><th>version</th><th>proposed by</th><th>at</th><th>state</th><th>decisions</th><th /></tr></thead>
        <tbody>
          {list.data?.proposals.map((p) => (
            <tr key={p.id} data-pipeline={p.pipeline_id} data-version={p.version} data-state={p.state}>
              <td>{p.pipeline_id}</td>
              <td>{short(p.version)} {p.current && <span className="badge">current here</span>}</td>
              <td>{p.party} ({p.user})</td>
              <td>{when(p.at)}</td>
              <td><StateBadge state={p.state} /></td>
              <td>{p.parties.map((party) => (
                <span key={party} className="party-state" data-party={party}>
                  {party}: {p.decisions[party] ? `${p.decisions[party].decision}ed by ${p.decisions[party].user}` : "pending"}
                </span>
              ))}</td>
              <td><button data-testid="open-proposal" onClick={() => setOpen(p.id)}>Review</button></td>
            </tr>
          ))}
        </tbody>
      </table>
      {opened && <Detail proposal={opened} onDone={list.refresh} />}
      {list.data && list.data.refused.length > 0 && (
        <div className="party-errors" data-testid="refused">
          {list.data.refused.map((r) => <div key={r.id}>refused message {r.id.slice(0, 8)}: {r.reason}</div>)}
        </div>
      )}
      {list.data && <History history={list.data.history} />}
    </>
  );
}
