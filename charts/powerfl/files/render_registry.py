"""Init container of the Airflow pods: the party registry with the secrets the chart keeps out of ConfigMaps.

Reads the registry ConfigMap (no passwords), adds each partner's Kafka password from the Secret
powerfl-partners (one file per key) and writes this party's public key next to it, derived from the signing
key; prints the public key, which the other parties need (`kubectl logs ... -c registry`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

from airflow_provider_powerfl.federation.keys import SigningKey

TEMPLATE = Path("/etc/powerfl/registry-template/parties.yaml")
PARTNER_SECRETS = Path("/etc/powerfl/kafka")
PRIVATE_KEY = Path("/etc/powerfl/keys/private.pem")
OUT = Path("/etc/powerfl/registry")


def main() -> int:
    me = os.environ["POWERFL_PARTY_ID"]
    registry = yaml.safe_load(TEMPLATE.read_text())
    for party_id, entry in registry["parties"].items():
        password = PARTNER_SECRETS / f"{party_id}.sasl_plain_password"
        if party_id != me and "security" in entry:
            if not password.exists():
                print(f"registry: no Kafka password for party {party_id} ({password.name} in Secret powerfl-partners)")
                continue
            entry["security"]["sasl_password"] = password.read_text().strip()
    public = SigningKey.from_file(PRIVATE_KEY).public_key.pem()
    (OUT / "keys").mkdir(parents=True, exist_ok=True)
    (OUT / "keys" / f"{me}.pub").write_text(public + "\n")
    target = OUT / "parties.yaml"
    target.touch(mode=0o600)
    target.write_text(yaml.safe_dump(registry, sort_keys=True))
    print(f"registry: {len(registry['parties'])} parties; party {me}'s public key:\n{public}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
