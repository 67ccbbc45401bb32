"""Builds the native crypto extensions (crypto/_multiexp.c, _fixedbase.c, _powmod.c); metadata is in pyproject.toml.

GMP: the static build in $POWERFL_GMP (scripts/gmp, tuned for this CPU; what `make install` uses) when set,
otherwise the system's libgmp. The static copy's symbols stay inside each extension, so they never
meet the GMP that gmpy2 bundles.
"""

import os

from setuptools import Extension, setup

MONTGOMERY = "airflow_provider_powerfl/crypto/_montgomery.h"  # shared by _multiexp and _fixedbase
GMP = os.environ.get("POWERFL_GMP")

if GMP:
    static = os.path.join(GMP, "lib", "libgmp.a")
    if not os.path.isfile(static):
        raise SystemExit(f"POWERFL_GMP={GMP}: no {static} (build it with scripts/gmp {GMP})")
    gmp = {
        "include_dirs": [os.path.join(GMP, "include")],
        "extra_objects": [static],
        "extra_link_args": ["-Wl,--exclude-libs,ALL"],
    }
else:
    gmp = {"libraries": ["gmp"]}

setup(
    ext_modules=[
        Extension(
            f"airflow_provider_powerfl.crypto.{name}",
            sources=[f"airflow_provider_powerfl/crypto/{name}.c"],
            depends=[MONTGOMERY],
            extra_compile_args=["-O2"],
            **gmp,
        )
        for name in ("_multiexp", "_fixedbase", "_powmod")
    ]
)
