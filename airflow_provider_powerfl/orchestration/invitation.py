"""Signed job invitations: the initiating party asks every other party to start the same job.

An invitation travels like every wire message (signed envelope, produced into
the receiver's own broker) on one single-partition topic per receiver,
``powerfl-invitations.<party>``. The receiver checks the signature against
the registry, its policy's allow-list of parties and its known pipelines before it
starts anything; whatever it decides goes back to the initiator as a signed
status event of the pseudo task ``invitation``. The conf carries the run's
nonce (``conf.nonce``, repeated in the signed header): the invited run's
messages and events carry it, so none of an earlier run of the same job id
is taken for this run's.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_powerfl.exceptions import ConfigError, FederationError, PowerFLError
from airflow_provider_powerfl.federation import codec
from airflow_provider_powerfl.federation.envelope import Envelope, Header, open_envelope, seal
from airflow_provider_powerfl.federation.errors import MalformedMessage
from airflow_provider_powerfl.federation.events import StatusEvent, publish_event
from airflow_provider_powerfl.federation.inbox import MAX_CLOCK_SKEW
from airflow_provider_powerfl.federation.kafka_transport import deliver
from airflow_provider_powerfl.federation.keys import SigningKey
from airflow_provider_powerfl.federation.registry import PartyRegistry
from airflow_provider_powerfl.jobs.spec import parse_nonce, parse_party_roles
from airflow_provider_powerfl.policy import PartyPolicy, PolicyRefused

log = logging.getLogger(__name__)

INVITATION_TAG = "powerfl.invitation"
INVITATION_TASK = "invitation"  # the status-event task name of accept/refuse answers
MAX_AGE = 3600.0  # seconds; an older invitation is refused (a job nobody waits for any more)


class InvitationRefused(FederationError):
    """An invitation failed a check; `sender` is the claimed initiator (None if unreadable)."""

    def __init__(self, message: str, sender: str | None = None, job_id: str | None = None) -> None:
        super().__init__(message)
        self.sender = sender
        self.job_id = job_id


@dataclass(frozen=True)
class Invitation:
    """Start pipeline `dag_id` for job `job_id` with this conf, as party `receiver`."""

    job_id: str
    dag_id: str
    conf: Mapping[str, Any]
    initiator: str
    receiver: str
    timestamp: float = field(default=0.0)
    pipeline_version: str | None = None  # the initiator's pipeline version (orchestration/agreement.py), signed

    @property
    def nonce(self) -> str:
        """The run's nonce (hex) from the conf."""
        return parse_nonce(self.conf.get("nonce"), f"invitation to job {self.job_id!r}: conf.nonce")

    def describe(self) -> str:
        return f"invitation of party {self.initiator} to party {self.receiver}: job {self.job_id!r}, pipeline {self.dag_id!r}"


def invitation_topic(party_id: str) -> str:
    """The topic on `party_id`'s own broker where others post invitations to it."""
    return f"powerfl-invitations.{party_id}"


def seal_invitation(invitation: Invitation, signing_key: SigningKey) -> bytes:
    body = {"dag_id": invitation.dag_id, "conf": _plain(invitation.conf)}
    if invitation.pipeline_version is not None:
        body["pipeline_version"] = invitation.pipeline_version
    payload = codec.encode_bytes(body)
    header = Header(
        invitation.job_id, 1, INVITATION_TAG, 0, 0, 1, 0, len(payload),
        invitation.initiator, invitation.receiver, invitation.timestamp or time.time(), bytes.fromhex(invitation.nonce),
    )  # fmt: skip
    return seal(header, [payload], signing_key)


def send_invitation(registry: PartyRegistry, signing_key: SigningKey, invitation: Invitation, *, timeout: float = 30.0) -> None:
    """Deliver a signed invitation into the receiver's broker; FederationError names the party it could not reach."""
    config = registry.get(invitation.receiver).kafka_config()
    topic = invitation_topic(invitation.receiver)
    wire = seal_invitation(invitation, signing_key)
    deliver(config, topic, wire, f"the {invitation.describe()}", timeout=timeout)
    log.info("sent the %s", invitation.describe())


def answer_invitation(
    registry: PartyRegistry, signing_key: SigningKey, me: str, to: str, job_id: str, nonce: bytes, status: str, reason: str
) -> None:
    """Tell initiator `to` whether party `me` runs job `job_id` (a signed event in the run of `nonce`); best effort, logged."""
    event = StatusEvent(job_id, me, INVITATION_TASK, status, 1, reason, time.time())
    try:
        publish_event(registry, signing_key, event, [to], nonce=nonce, timeout=15.0)
    except PowerFLError:
        log.exception("could not answer party %s about job %r", to, job_id)


def open_invitation(
    wire: bytes,
    registry: PartyRegistry,
    me: str,
    *,
    policy: PartyPolicy,
    pipelines: Collection[str],
    now: float | None = None,
) -> Invitation:
    """Verify one wire invitation for party `me`; InvitationRefused says why and who sent it."""
    envelope = _signed_envelope(wire, registry, me)
    h = envelope.header
    sender, job_id = h.sender, h.job_id
    try:
        policy.check_initiator(me, sender)
    except PolicyRefused as exc:
        raise InvitationRefused(str(exc), sender, job_id) from exc
    age = (time.time() if now is None else now) - h.timestamp
    if not -MAX_CLOCK_SKEW <= age <= MAX_AGE:  # NaN too; one dated ahead would stay valid for ever
        raise InvitationRefused(
            f"invitation to job {job_id!r} is {age:.0f}s old (limit {MAX_AGE:.0f}s, or {MAX_CLOCK_SKEW:.0f}s ahead)",
            sender,
            job_id,
        )
    dag_id, conf, version = _checked_body(envelope, me, pipelines)
    invitation = Invitation(job_id, dag_id, conf, sender, me, h.timestamp, version)
    try:
        if bytes.fromhex(invitation.nonce) != h.nonce:
            raise ConfigError(f"invitation to job {job_id!r}: conf.nonce differs from the signed header's")
    except ConfigError as exc:
        raise InvitationRefused(str(exc), sender, job_id) from exc
    return invitation


def _signed_envelope(wire: bytes, registry: PartyRegistry, me: str) -> Envelope:
    """The envelope of an invitation to `me` whose registry key signed it; a refusal here names no sender to answer."""
    try:
        envelope = open_envelope(wire)
    except MalformedMessage as exc:
        raise InvitationRefused(f"unreadable invitation: {exc}") from exc
    h = envelope.header
    sender, job_id = h.sender, h.job_id
    if h.tag != INVITATION_TAG or h.receiver != me:
        raise InvitationRefused(
            f"message with tag {h.tag!r} for party {h.receiver!r} is no invitation to party {me}", None, job_id
        )
    if sender not in registry:
        raise InvitationRefused(f"invitation to job {job_id!r} from unknown party {sender!r} (not in the registry)", None, job_id)
    try:
        key = registry.get(sender).verify_key()
    except ConfigError as exc:
        raise InvitationRefused(f"cannot check the invitation of party {sender}: {exc}", None, job_id) from exc
    if not envelope.verify(key):
        # the claimed sender did not sign it: tell nobody, the claim is worthless
        raise InvitationRefused(f"invitation to job {job_id!r} claiming party {sender} has a bad signature", None, job_id)
    return envelope


def _checked_body(envelope: Envelope, me: str, pipelines: Collection[str]) -> tuple[str, dict[str, Any], str | None]:
    """The (pipeline, conf, pipeline version) of a signed invitation: plain JSON, a pipeline `me` runs, both parties in the job, one job id."""
    sender, job_id = envelope.header.sender, envelope.header.job_id
    try:
        body = codec.decode(envelope.payload)
    except MalformedMessage as exc:
        raise InvitationRefused(f"invitation to job {job_id!r} has an unreadable body: {exc}", sender, job_id) from exc
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("dag_id"), str)
        or not isinstance(body.get("conf"), dict)
        or not isinstance(body.get("pipeline_version"), (str, type(None)))
    ):
        raise InvitationRefused(f"invitation to job {job_id!r} has a malformed body", sender, job_id)
    if not _json_data(body["conf"]):
        raise InvitationRefused(f"invitation to job {job_id!r} has a conf of more than plain JSON data", sender, job_id)
    dag_id, conf = body["dag_id"], body["conf"]
    if dag_id not in pipelines:
        raise InvitationRefused(
            f"party {me} does not run pipeline {dag_id!r} (known: {', '.join(sorted(pipelines)) or 'none'})", sender, job_id
        )
    try:
        roles = parse_party_roles(conf.get("parties", []), "conf.parties")
    except ConfigError as exc:
        raise InvitationRefused(f"invitation to job {job_id!r}: {exc}", sender, job_id) from exc
    for party_id in (me, sender):
        if party_id not in roles:
            raise InvitationRefused(
                f"party {party_id} is not among the parties of job {job_id!r} ({', '.join(roles)})", sender, job_id
            )
    if str(conf.get("job_id") or job_id) != job_id:
        raise InvitationRefused(f"invitation names job {job_id!r} but its conf says {conf.get('job_id')!r}", sender, job_id)
    return dag_id, conf, body.get("pipeline_version")


def _json_data(value: Any) -> bool:
    """Plain JSON data, as a DAG run conf holds (the codec also carries bytes, tuples, arrays, NaN and ints of
    any size, and an int of over 4300 digits makes even repr raise)."""
    if isinstance(value, dict):
        return all(isinstance(key, str) and _json_data(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_json_data(item) for item in value)
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int):
        return -(1 << 63) <= value < 1 << 64
    return value is None or isinstance(value, str)


def _plain(value: Any) -> Any:
    """Mappings and sequences as dict/list (the codec's types); Airflow may hand in its own."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
