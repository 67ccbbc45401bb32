# The runtime image's system layers: a JRE (Spark's JVM), Debian's Python 3.11 and the airflow user
# (uid 50000, gid 0, as Airflow's own images and the chart's securityContext have it). docker/build
# adds the dependencies' virtualenv to it (powerfl/runtime-deps), then docker/runtime/Dockerfile the
# provider. The first two steps are the Kafka image's too, so both builds share those layers.
ARG BASE=powerfl/debian-base:bookworm
FROM ${BASE}
# The host's extra CA certificates, copied into the context by docker/build (never committed).
COPY certs/ /usr/local/share/ca-certificates/
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update -q \
    && apt-get install -y -q --no-install-recommends ca-certificates openjdk-17-jre-headless \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
RUN apt-get update -q \
    && apt-get install -y -q --no-install-recommends python3 procps \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 50000 --gid 0 --home-dir /opt/airflow --create-home --shell /bin/bash airflow
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
