"""Builds the native multi-exponentiation and fixed-base comb (crypto/_multiexp.c, _fixedbase.c) against the system GMP; metadata is in pyproject.toml."""

from setuptools import Extension, setup

MONTGOMERY = "airflow_provider_powerfl/crypto/_montgomery.h"  # shared by both extensions

setup(
    ext_modules=[
        Extension(
            "airflow_provider_powerfl.crypto._multiexp",
            sources=["airflow_provider_powerfl/crypto/_multiexp.c"],
            depends=[MONTGOMERY],
            libraries=["gmp"],
            extra_compile_args=["-O2"],
        ),
        Extension(
            "airflow_provider_powerfl.crypto._fixedbase",
            sources=["airflow_provider_powerfl/crypto/_fixedbase.c"],
            depends=[MONTGOMERY],
            libraries=["gmp"],
            extra_compile_args=["-O2"],
        ),
    ]
)
