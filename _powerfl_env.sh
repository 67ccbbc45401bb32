# The environment file of one party for ./deploy.sh (copy to powerfl_env.sh or powerfl-<id>.sh and fill in).
# The seed's variables keep their names and meaning; what each becomes in the chart is in docs/deployment.md.
# This file is sourced by bash: plain assignments, no spaces around '='.

# ---- the seed's variables
# This party's id; the namespace is power-fl-<PARTY_ID>.
PARTY_ID=10000
# The host name of this party's ingress (/ dashboard, /pipelines Airflow, /flow-server REST API) and of the
# Kafka listener the other parties reach (the broker's TLS certificate is made for it).
DOMAIN=fl.bank.example
# This party's broker as its own pods reach it: the chart's Service (power-fl-<id>'s powerfl-kafka) or, with
# kafka in DISABLED_COMPONENTS, a broker run elsewhere (plaintext).
INTERNAL_MQ_HOST=powerfl-kafka.power-fl-10000.svc.cluster.local
INTERNAL_MQ_TCP_PORT=9092
# The NodePort of the broker's SASL_SSL listener: the other parties' PARTY_MQ_PROXY_URL_<this id> is DOMAIN:this.
EXPOSE_MQ_TCP_PORT=30091
# Accepted and checked (a NodePort other than EXPOSE_MQ_TCP_PORT), but Kafka has no HTTP port: none is opened.
EXPOSE_MQ_HTTP_PORT=30080
# Components not to deploy, comma-separated, of: kafka postgresql triggerer ingress dashboard flow-server
DISABLED_COMPONENTS=
# The other parties' ids, comma-separated; each needs the PARTY_*_<id> variables below.
OTHER_PARTIES=20000
# Party 20000's exposed broker, host:port (a scheme:// prefix is dropped): where this party produces to it.
PARTY_MQ_PROXY_URL_20000=fl.partner.example:30091
# Accepted and checked (an http(s) URL), not used: Kafka has no HTTP admin endpoint.
PARTY_MQ_HTTP_URL_20000=http://fl.partner.example:30080

# ---- what PowerFL-on-Airflow needs beyond the seed (the partner's files come after the first setup:
# docs/deployment.md, "Exchange with the partner"; until then deploy.sh says what is left out)
# This party's default role in jobs, and each other party's: guest, host or arbiter (default guest, host).
PARTY_ROLE=guest
PARTY_ROLE_20000=host
# Party 20000's public signing key (the .pub it sends). Unset: party 20000 stays out of the registry.
PARTY_PUBLIC_KEY_20000=./partners/20000.pub
# Party 20000's broker CA certificate (PEM), if its certificate is not signed by a CA the image trusts.
PARTY_MQ_CA_20000=./partners/20000-ca.pem
# A file holding the password party 20000 gave this party for its broker (user fl-10000). Read by helm, never
# printed or put on a command line; --dry-run does not read it.
PARTY_MQ_PASSWORD_FILE_20000=./partners/20000.password

# ---- optional
# A Secret with key private.pem holding this party's signing key (default: one generated at the first install).
#KEYS_SECRET=powerfl-keys-2026
# The pipeline YAMLs (default: this checkout's dags/pipelines).
#PIPELINES_DIR=./pipelines
# The YARN client configuration files for the ConfigMap `hadoop`, space-separated.
#HADOOP_CONF_FILES="/etc/hadoop/conf/core-site.xml /etc/hadoop/conf/yarn-site.xml"
# A chart values file for everything else: images, resources, scheduling, external database, executor.
#VALUES_FILE=./powerfl-values.yaml
