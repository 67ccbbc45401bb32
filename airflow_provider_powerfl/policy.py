"""A party's own privacy policy: the floor under every job conf, checked at this party before anything runs.

A job's conf is written by whoever starts the job, possibly another party, so
it cannot be trusted with this party's privacy: the policy comes from this
party's ``powerfl`` connection and bounds what a conf may ask for here (key
length, batch size, label noise and support in hetero LR, WOE going back to hosts, which data is read, where
output goes, which algorithms run, who may start jobs). A conf asking for less
is refused (:class:`PolicyRefused` names the field, the value asked and the
policy's); a conf silent on a pinned value gets the policy's. Pure Python: read
by the hooks, the listener and the operators alike.
"""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, field_validator

from airflow_provider_powerfl.crypto.paillier import MIN_KEY_BITS, valid_key_length
from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.spec import TaskSpec
from airflow_provider_powerfl.validation import shown

DEFAULT_WORK_DIR = str(Path(tempfile.gettempdir()) / "powerfl")
Algorithm = Literal["psi_ecdh", "psi_rsa", "hetero_lr", "secureboost", "woe_iv", "hetero_nn"]
ALGORITHMS: tuple[Algorithm, ...] = ("psi_ecdh", "psi_rsa", "hetero_lr", "secureboost", "woe_iv", "hetero_nn")
_PAILLIER_TRAINERS = ("hetero_lr", "secureboost", "hetero_nn")


class PolicyRefused(ConfigError):
    """A job asks this party for less than its policy allows; names the field, the value asked and the policy's."""

    def __init__(self, party_id: str, field: str, asked: Any, rule: str) -> None:
        super().__init__(f"party {party_id}'s privacy policy refuses {field}={shown(asked)}: {rule}")
        self.field = field
        self.asked = asked


class PartyPolicy(BaseModel):
    """What this party lets any job do here; the defaults are the private ones (nobody may start jobs here)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_parties: tuple[str, ...] = Field(default=(), description="party ids that may start jobs here; empty: none")
    algorithms: tuple[Algorithm, ...] = Field(default=ALGORITHMS, description="what may run here")
    min_key_length: StrictInt = Field(default=MIN_KEY_BITS, description="least Paillier key bits of any key used here")
    min_batch_size: StrictInt = Field(default=64, ge=1, description="hetero LR: least rows per batch (guest plan and host check)")
    return_woe: StrictBool = Field(default=False, description="guest: whether hosts get the WOE of their bins back")
    max_epsilon: float | None = Field(
        default=16.0, gt=0, allow_inf_nan=False,
        description="hetero LR guest: the largest label-privacy epsilon towards hosts a job may ask for; None: noise may be off",
    )  # fmt: skip
    min_support: StrictInt = Field(
        default=16, ge=1, description="hetero LR guest: least rows per batch behind a host's column sum"
    )
    hetero_lr_privacy: Literal["default", "strict"] = Field(
        default="default",
        description="hetero LR: 'strict' runs it here only in privacy 'strict' (no party sees a host's gradient or weights)",
    )
    allow_goss: StrictBool = Field(
        default=False, description="SecureBoost guest: whether GOSS may pick rows (it leaks labels to hosts)"
    )
    hide_instance_space: StrictBool = Field(
        default=True, description="SecureBoost guest: train only with hosts never learning which rows share a node"
    )
    min_hist_noise: float = Field(
        default=0.0, ge=0, allow_inf_nan=False, description="SecureBoost host: least noise on its histograms (rows' worth)"
    )
    input_prefixes: tuple[str, ...] = Field(default=(), description="URI/path prefixes inputs may come from (plus output_dir)")
    output_dir: str = Field(default=DEFAULT_WORK_DIR, description="every step writes below this dir (a path or URI)")
    output_tables: tuple[str, ...] = Field(
        default=(), description="Hive tables a step may publish its outputs as: hive://<db>.<table>, or hive://<db> for any"
    )
    require_agreement: StrictBool = Field(
        default=False,
        description="run a pipeline only in the version every party of the job accepted (docs/workspace.md)",
    )

    _key_floor = field_validator("min_key_length")(classmethod(lambda cls, bits: valid_key_length(bits)))

    @field_validator("input_prefixes")
    @classmethod
    def _absolute_prefixes(cls, prefixes: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in prefixes:
            _absolute(prefix)
        return prefixes

    @field_validator("output_dir")
    @classmethod
    def _absolute_output(cls, directory: str) -> str:
        return _absolute(directory)

    @classmethod
    def parse(cls, data: Any) -> PartyPolicy:
        """Validate a policy mapping once, where it enters; the ConfigError names the first bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "policy"
            raise ConfigError(f"{field}: {first['msg']}") from None

    # ------------------------------------------------------------ checks
    def check_initiator(self, party_id: str, initiator: str) -> None:
        """Refuse a job started by a party not on the allow-list."""
        if initiator != party_id and initiator not in self.allowed_parties:
            listed = ", ".join(self.allowed_parties) or "nobody"
            raise PolicyRefused(party_id, "initiator", initiator, f"may not start jobs here (allowed_parties: {listed})")

    def check_asked(
        self,
        party_id: str,
        role: str,
        step: str,
        params: Mapping[str, Any],
        inputs: Mapping[str, Mapping[str, Any]],
        output_dir: str | None,
        work_dir: str | None,
    ) -> None:
        """Refuse what a conf sets explicitly for one step (unset values are the pipeline's, checked at the step)."""
        self._check_algorithm(party_id, step, params, effective=False)
        for name, data in inputs.items():
            if "uri" in data:
                self._check_input(party_id, f"inputs.{name}.uri", str(data["uri"]))
        if output_dir is not None:
            self._check_output(party_id, "output_dir", output_dir)
        if work_dir is not None and not within(work_dir, self.output_dir):
            raise PolicyRefused(party_id, "work_dir", work_dir, f"not within output_dir {self.output_dir}")
        self._check_tables(party_id, params)
        _check_pins(self, party_id, role, step, params)

    def enforce(self, spec: TaskSpec, step: str) -> TaskSpec:
        """The spec a step of this party may run: refused (PolicyRefused) or with the policy's pinned values filled in."""
        me, params = spec.party_id, _copy(spec.params)
        self._check_algorithm(me, step, params, effective=True)
        for name, data in spec.inputs.items():
            self._check_input(me, f"inputs.{name}.uri", data.uri)
        model = params.get("model")
        if isinstance(model, Mapping) and isinstance(model.get("root"), str):
            self._check_input(me, "params.model.root", model["root"])
        self._check_output(me, "outputs.dir", spec.outputs.dir)
        self._check_tables(me, params)
        _check_pins(self, me, spec.role, step, params)
        _fill_pins(self, spec.role, step, params)
        return spec.model_copy(update={"params": params})

    def _check_algorithm(self, party_id: str, step: str, params: Mapping[str, Any], *, effective: bool) -> None:
        algorithm = step_algorithm(step, params, effective=effective)
        if algorithm is not None and algorithm not in self.algorithms:
            allowed = ", ".join(self.algorithms) or "none"
            raise PolicyRefused(party_id, "algorithm", algorithm, f"not among this party's algorithms ({allowed})")

    def _check_input(self, party_id: str, field: str, uri: str) -> None:
        roots = (*self.input_prefixes, self.output_dir)
        if not any(within(uri, root) for root in roots):
            raise PolicyRefused(party_id, field, uri, f"outside input_prefixes ({', '.join(roots)})")

    def _check_tables(self, party_id: str, params: Mapping[str, Any]) -> None:
        tables = params.get("output_tables") or {}
        for name, table in tables.items() if isinstance(tables, Mapping) else ():
            database = str(table).split(".", 1)[0]
            if table not in self.output_tables and database not in self.output_tables:
                allowed = ", ".join(self.output_tables) or "none"
                raise PolicyRefused(party_id, f"params.output_tables.{name}", table, f"not among output_tables ({allowed})")

    def _check_output(self, party_id: str, field: str, directory: str) -> None:
        if not within(directory, self.output_dir) or _split(directory) == _split(self.output_dir):
            raise PolicyRefused(party_id, field, directory, f"not below output_dir {self.output_dir}")


def step_algorithm(step: str, params: Mapping[str, Any], *, effective: bool) -> str | None:
    """The algorithm a step runs with these params; unset ones are None unless `effective` (then the step's default)."""
    if step == "align" and ("protocol" in params or effective):
        return f"psi_{params.get('protocol', 'ecdh')}"
    if step == "train" and ("algorithm" in params or effective):
        return str(params.get("algorithm", "hetero_lr"))
    if step == "feature_engineering" and isinstance(params.get("binning"), Mapping) and params.get("mode", "fit") == "fit":
        return "woe_iv"
    return None


def _pinned_scopes(step: str, params: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any], str | None]]:
    """(where, mapping, algorithm) of each mapping of a step's params holding pinned values."""
    if step == "train":
        return [("params", params, str(params.get("algorithm", "hetero_lr")))]
    if step == "feature_engineering" and isinstance(params.get("binning"), Mapping):
        return [("params.binning", params["binning"], "woe_iv")]
    return []


def _check_pins(policy: PartyPolicy, party_id: str, role: str, step: str, params: Mapping[str, Any]) -> None:
    for where, scope, algorithm in _pinned_scopes(step, params):
        if "key_length" in scope and (not _is_int(scope["key_length"]) or scope["key_length"] < policy.min_key_length):
            raise PolicyRefused(
                party_id, f"{where}.key_length", scope["key_length"], f"below min_key_length={policy.min_key_length}"
            )
        if algorithm in ("hetero_lr", "hetero_nn"):
            for name in ("min_batch_size", "batch_size"):
                if name in scope and (not _is_int(scope[name]) or scope[name] < policy.min_batch_size):
                    raise PolicyRefused(party_id, f"{where}.{name}", scope[name], f"below min_batch_size={policy.min_batch_size}")
        if algorithm == "hetero_lr" and role == "guest":
            _check_label_defences(policy, party_id, where, scope)
        if algorithm == "hetero_lr" and policy.hetero_lr_privacy == "strict" and scope.get("privacy", "strict") != "strict":
            raise PolicyRefused(party_id, f"{where}.privacy", scope["privacy"], "hetero_lr_privacy='strict'")
        if algorithm == "secureboost":
            _check_tree_defences(policy, party_id, role, where, scope)
        if algorithm == "woe_iv" and role == "guest" and scope.get("return_woe", False) is not False and not policy.return_woe:
            raise PolicyRefused(party_id, f"{where}.return_woe", scope["return_woe"], "return_woe=False: hosts get IVs only")


def _check_label_defences(policy: PartyPolicy, party_id: str, where: str, scope: Mapping[str, Any]) -> None:
    """The guest's labels towards hosts: no more epsilon (no noise counts as infinite) and no less support."""
    if "epsilon" in scope and policy.max_epsilon is not None:
        asked = scope["epsilon"]
        if asked is None or not isinstance(asked, (int, float)) or isinstance(asked, bool) or not 0 < asked <= policy.max_epsilon:
            raise PolicyRefused(party_id, f"{where}.epsilon", asked, f"above max_epsilon={policy.max_epsilon} (None: no noise)")
    if "min_support" in scope and (not _is_int(scope["min_support"]) or scope["min_support"] < policy.min_support):
        raise PolicyRefused(party_id, f"{where}.min_support", scope["min_support"], f"below min_support={policy.min_support}")


def _check_tree_defences(policy: PartyPolicy, party_id: str, role: str, where: str, scope: Mapping[str, Any]) -> None:
    """SecureBoost: GOSS only if the guest's policy allows it, the hidden instance space if it asks for it; a host's
    histogram noise no lower than its own floor."""
    if role == "guest" and scope.get("goss", False) is not False and not policy.allow_goss:
        raise PolicyRefused(party_id, f"{where}.goss", scope["goss"], "allow_goss=False: GOSS's row choice ranks rows by label")
    if role == "guest" and policy.hide_instance_space and scope.get("hide_instance_space", True) is not True:
        raise PolicyRefused(
            party_id,
            f"{where}.hide_instance_space",
            scope["hide_instance_space"],
            "hide_instance_space=True: partitions leak labels",
        )
    if role == "host" and "hist_noise" in scope:
        asked = scope["hist_noise"]
        if not isinstance(asked, (int, float)) or isinstance(asked, bool) or not asked >= policy.min_hist_noise:
            raise PolicyRefused(party_id, f"{where}.hist_noise", asked, f"below min_hist_noise={policy.min_hist_noise}")


def _fill_pins(policy: PartyPolicy, role: str, step: str, params: dict[str, Any]) -> None:
    """Set what the conf left unset to the policy's value, so the algorithm's own default cannot undercut it."""
    for _, scope, algorithm in _pinned_scopes(step, params):
        assert isinstance(scope, dict)
        if algorithm in (*_PAILLIER_TRAINERS, "woe_iv"):
            scope.setdefault("key_length", policy.min_key_length)
        if algorithm == "hetero_lr":
            scope.setdefault("min_batch_size", policy.min_batch_size)
            if policy.hetero_lr_privacy == "strict":
                scope.setdefault("privacy", "strict")
        if algorithm == "secureboost" and role == "host":
            scope.setdefault("hist_noise", policy.min_hist_noise)
        if algorithm == "secureboost" and role == "guest" and policy.hide_instance_space:
            scope.setdefault("hide_instance_space", True)
        if algorithm == "hetero_lr" and role == "guest":
            scope.setdefault("epsilon", policy.max_epsilon)
            scope.setdefault("min_support", policy.min_support)
        if algorithm == "woe_iv" and role == "guest":
            scope.setdefault("return_woe", policy.return_woe)


def _copy(params: Mapping[str, Any]) -> dict[str, Any]:
    """Params with the binning mapping copied too (the only nested mapping the policy fills in)."""
    out = dict(params)
    if isinstance(out.get("binning"), Mapping):
        out["binning"] = dict(out["binning"])
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _split(uri: str) -> tuple[str, str, str]:
    """(scheme, authority, normalised path): local paths and ``file:`` URIs compare alike; ``..`` is resolved."""
    try:
        parts = urlsplit(uri)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket: a conf's URI, so our error (a ValueError too, for pydantic)
        raise ConfigError(f"{uri!r} is not a path or URI: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme in ("", "file"):
        return "file", "", posixpath.normpath(parts.path if scheme else uri)
    return scheme, parts.netloc.lower(), posixpath.normpath(parts.path or "/")


def within(uri: str, root: str) -> bool:
    """Whether `uri` is `root` or below it (same scheme and authority; lexical, after resolving ``..``)."""
    try:
        scheme, authority, path = _split(uri)
    except ValueError:  # unparsable (e.g. a broken IPv6 host): below no root
        return False
    root_scheme, root_authority, root_path = _split(root)
    if (scheme, authority) != (root_scheme, root_authority):
        return False
    return path == root_path or path.startswith(root_path.rstrip("/") + "/")


def _absolute(uri: str) -> str:
    if not uri or not _split(uri)[2].startswith("/"):
        raise ValueError(f"expected an absolute path or URI, got {uri!r}")
    return uri
