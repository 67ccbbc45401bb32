"""Builds the native multi-exponentiation (crypto/_multiexp.c) against the system GMP; metadata is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "airflow_provider_powerfl.crypto._multiexp",
            sources=["airflow_provider_powerfl/crypto/_multiexp.c"],
            libraries=["gmp"],
            extra_compile_args=["-O2"],
        )
    ]
)
