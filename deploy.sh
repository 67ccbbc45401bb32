#!/usr/bin/env bash
# One PowerFL party on Kubernetes from the seed's environment file (docs/deployment.md).
#
#   ./deploy.sh setup   [ENV_FILE] [--dry-run]   install or update the party's release (helm upgrade --install)
#   ./deploy.sh upgrade [ENV_FILE] [--dry-run]   update an installed release
#   ./deploy.sh cleanup [ENV_FILE] [--yes]       uninstall, then delete the party's keys and data (asks first;
#                                                --yes does not ask, --dry-run only says what it would delete)
#
# ENV_FILE defaults to ./powerfl_env.sh (template: _powerfl_env.sh). Every variable is checked before anything
# changes; a missing or malformed one stops the script naming it. --dry-run prints the manifests (helm template)
# and needs no cluster. Setup needs bash and helm only (HELM=path, else helm on PATH, else .cache/bin/helm);
# cleanup also uses kubectl to delete what helm keeps (keys, CA, volumes).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CHART=$HERE/charts/powerfl
RELEASE=powerfl
COMPONENTS=(kafka postgresql triggerer ingress dashboard flow-server)

say() { echo "deploy: $*" >&2; }
die() { echo "deploy: $*" >&2; exit 1; }
usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

ACTION="" ENV_FILE="" DRY_RUN=0 YES=0
parse_args() {
    local arg
    for arg in "$@"; do
        case $arg in
            setup | upgrade | cleanup) [[ -z $ACTION ]] || usage; ACTION=$arg ;;
            --dry-run) DRY_RUN=1 ;;
            --yes | -y) YES=1 ;;
            -h | --help) usage ;;
            -*) die "unknown option $arg" ;;
            *) [[ -z $ENV_FILE ]] || usage; ENV_FILE=$arg ;;
        esac
    done
    [[ -n $ACTION ]] || usage
    ENV_FILE=${ENV_FILE:-./powerfl_env.sh}
}

# The environment file alone decides: variables of the same names in the caller's environment are dropped first.
load_env() {
    [[ -r $ENV_FILE ]] || die "cannot read the environment file $ENV_FILE"
    local name
    for name in $(compgen -v | grep -E '^(PARTY_|OTHER_PARTIES$|DOMAIN$|INTERNAL_MQ_|EXPOSE_MQ_|DISABLED_COMPONENTS$|VALUES_FILE$|PIPELINES_DIR$|HADOOP_CONF_FILES$|KEYS_SECRET$)' || true); do
        unset "$name"
    done
    # shellcheck disable=SC1090
    source "$ENV_FILE" || die "$ENV_FILE failed to run"
}

# ---------------------------------------------------------------- checks (each names the variable)
need() { [[ -n ${!1:-} ]] || die "$1 is not set in $ENV_FILE${2:+ ($2)}"; }
matches() { need "$1" "$3"; [[ ${!1} =~ $2 ]] || die "$1=${!1} is malformed: expected $3"; }
port_in() { matches "$1" '^[0-9]+$' "$4"; ((${!1} >= $2 && ${!1} <= $3)) || die "$1=${!1} is out of range: expected $4"; }
readable() { need "$1" "$2"; [[ -r ${!1} ]] || die "$1=${!1}: cannot read that file ($2)"; }

ID_RE='^[0-9a-z]([0-9a-z-]{0,48}[0-9a-z])?$'
HOST_RE='^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$'
ROLE_RE='^(guest|host|arbiter)$'

check_env() {
    matches PARTY_ID "$ID_RE" "a party id of lower-case letters, digits and -, e.g. 10000 (the namespace is power-fl-<id>)"
    [[ -z ${PARTY_ROLE:-} ]] || matches PARTY_ROLE "$ROLE_RE" "guest, host or arbiter"
    matches DOMAIN "$HOST_RE" "a host name, e.g. fl.bank.example"
    [[ ! $DOMAIN =~ ^[0-9.]+$ ]] || die "DOMAIN=$DOMAIN is an IP address: the ingress needs a DNS name (and the broker's certificate is made for it)"
    matches INTERNAL_MQ_HOST "$HOST_RE" "the host this party's pods reach its broker at"
    port_in INTERNAL_MQ_TCP_PORT 1 65535 "a port number"
    port_in EXPOSE_MQ_TCP_PORT 30000 32767 "a NodePort, 30000-32767"
    port_in EXPOSE_MQ_HTTP_PORT 30000 32767 "a NodePort, 30000-32767"
    [[ $EXPOSE_MQ_HTTP_PORT != "$EXPOSE_MQ_TCP_PORT" ]] || die "EXPOSE_MQ_HTTP_PORT must differ from EXPOSE_MQ_TCP_PORT"
    local name
    for name in $(words "${DISABLED_COMPONENTS:-}"); do
        [[ " ${COMPONENTS[*]} " == *" $name "* ]] ||
            die "DISABLED_COMPONENTS names '$name': known components are ${COMPONENTS[*]}"
    done
    need OTHER_PARTIES "the ids of the other parties, comma-separated"
    local id
    for id in $(words "$OTHER_PARTIES"); do
        [[ $id =~ $ID_RE ]] || die "OTHER_PARTIES names '$id': not a party id"
        [[ $id != "$PARTY_ID" ]] || die "OTHER_PARTIES names this party ($id)"
        check_partner "$id"
    done
    [[ -z ${VALUES_FILE:-} ]] || readable VALUES_FILE "a chart values file"
    [[ -z ${PIPELINES_DIR:-} || -d $PIPELINES_DIR ]] || die "PIPELINES_DIR=$PIPELINES_DIR is not a directory"
}

check_partner() {
    local id=$1
    [[ -z $(var "PARTY_ROLE_$id") ]] || matches "PARTY_ROLE_$id" "$ROLE_RE" "party $id's role: guest, host or arbiter"
    matches "PARTY_MQ_PROXY_URL_$id" '^([a-z0-9+_]+://)?[A-Za-z0-9.-]+:[0-9]+$' \
        "party $id's exposed broker as host:port (a scheme:// prefix is dropped)"
    [[ -z $(var "PARTY_MQ_HTTP_URL_$id") ]] || matches "PARTY_MQ_HTTP_URL_$id" '^https?://[^ ]+$' "an http(s) URL"
    if [[ -n $(var "PARTY_PUBLIC_KEY_$id") ]]; then
        readable "PARTY_PUBLIC_KEY_$id" "party $id's public signing key, its <id>.pub"
        grep -q 'BEGIN PUBLIC KEY' "$(var "PARTY_PUBLIC_KEY_$id")" ||
            die "PARTY_PUBLIC_KEY_$id=$(var "PARTY_PUBLIC_KEY_$id") holds no PEM public key"
    fi
    [[ -z $(var "PARTY_MQ_CA_$id") ]] || readable "PARTY_MQ_CA_$id" "party $id's broker CA certificate"
    [[ -z $(var "PARTY_MQ_PASSWORD_FILE_$id") ]] || readable "PARTY_MQ_PASSWORD_FILE_$id" "party $id's Kafka password"
}

var() { echo "${!1:-}"; }
words() { tr ',' ' ' <<<"$1"; }

# ---------------------------------------------------------------- seed variables -> chart values
HELM_ARGS=()
set_value() { HELM_ARGS+=(--set "$1"); }
set_string() { HELM_ARGS+=(--set-string "$1"); }
set_file() { HELM_ARGS+=(--set-file "$1=$2"); }

map_values() {
    set_string "party.id=$PARTY_ID"
    [[ -n ${PARTY_ROLE:-} ]] || say "PARTY_ROLE is not set: this party's default role is guest (a job's conf names each party's role)"
    set_string "party.role=${PARTY_ROLE:-guest}"
    set_string "domain=$DOMAIN"
    set_string "kafka.internal.host=$INTERNAL_MQ_HOST"
    set_value "kafka.internal.port=$INTERNAL_MQ_TCP_PORT"
    set_value "kafka.external.nodePort=$EXPOSE_MQ_TCP_PORT"
    say "EXPOSE_MQ_HTTP_PORT=$EXPOSE_MQ_HTTP_PORT: Kafka has no HTTP port, so none is opened; partners reach this party at $DOMAIN:$EXPOSE_MQ_TCP_PORT only"
    local name
    for name in $(words "${DISABLED_COMPONENTS:-}"); do
        [[ $name != flow-server ]] || name=flowServer
        set_value "components.$name.enabled=false"
    done
    local id
    for id in $(words "$OTHER_PARTIES"); do map_partner "$id"; done
    map_files
}

map_partner() {
    local id=$1 url password role
    url=$(var "PARTY_MQ_PROXY_URL_$id")
    role=$(var "PARTY_ROLE_$id")
    [[ -n $role ]] || say "PARTY_ROLE_$id is not set: party $id's default role is host (a job's conf names each party's role)"
    set_string "parties.$id.role=${role:-host}"
    set_string "parties.$id.bootstrapServers=${url#*://}"
    if [[ -n $(var "PARTY_PUBLIC_KEY_$id") ]]; then
        set_file "parties.$id.publicKey" "$(var "PARTY_PUBLIC_KEY_$id")"
    else
        say "PARTY_PUBLIC_KEY_$id is not set: party $id stays out of the registry (no job with it) until an upgrade gives its public key; its Kafka user fl-$id is made now"
    fi
    [[ -z $(var "PARTY_MQ_CA_$id") ]] || set_file "parties.$id.caCert" "$(var "PARTY_MQ_CA_$id")"
    [[ -z $(var "PARTY_MQ_HTTP_URL_$id") ]] ||
        say "PARTY_MQ_HTTP_URL_$id: Kafka has no HTTP admin endpoint; party $id is reached at PARTY_MQ_PROXY_URL_$id (${url#*://})"
    password=$(var "PARTY_MQ_PASSWORD_FILE_$id")
    if [[ -z $password ]]; then
        say "PARTY_MQ_PASSWORD_FILE_$id is not set: this party cannot log in to party $id's broker until it is"
    elif ((DRY_RUN)); then
        set_string "parties.$id.saslPassword=<dry run: PARTY_MQ_PASSWORD_FILE_$id is not read>"
    else
        set_file "parties.$id.saslPassword" "$password"
    fi
}

# Pipelines, the YARN client configuration, an operator's own values (resources, external database, images...).
map_files() {
    local dir=${PIPELINES_DIR:-$HERE/dags/pipelines} file
    for file in "$dir"/*.yaml; do
        [[ -e $file ]] && set_file "pipelines.files.$(escape "$(basename "$file")")" "$file"
    done
    for file in ${HADOOP_CONF_FILES:-}; do
        [[ -r $file ]] || die "HADOOP_CONF_FILES names $file: cannot read it"
        set_file "hadoop.files.$(escape "$(basename "$file")")" "$file"
    done
    [[ -z ${KEYS_SECRET:-} ]] || set_string "keys.existingSecret=$KEYS_SECRET"
    [[ -z ${VALUES_FILE:-} ]] || HELM_ARGS+=(--values "$VALUES_FILE")
}

escape() { sed 's/\./\\./g' <<<"$1"; }

# ---------------------------------------------------------------- actions
find_helm() {
    HELM=${HELM:-$(command -v helm || true)}
    [[ -n $HELM ]] || HELM=$HERE/.cache/bin/helm
    [[ -x $HELM ]] || die "helm not found (set HELM=..., put it on PATH, or run scripts/helm)"
}

install() {
    local ns=$1
    if ((DRY_RUN)); then
        "$HELM" template "$RELEASE" "$CHART" --namespace "$ns" "${HELM_ARGS[@]}"
        return
    fi
    local mode=(upgrade --install --create-namespace)
    [[ $ACTION == setup ]] || mode=(upgrade)
    # the database migration hook waits for PostgreSQL and the first pull of the runtime image
    "$HELM" "${mode[@]}" "$RELEASE" "$CHART" --namespace "$ns" --timeout 20m "${HELM_ARGS[@]}"
    say "$ACTION of party $PARTY_ID done in namespace $ns ($HELM status $RELEASE -n $ns)"
}

cleanup() {
    local ns=$1 answer
    if ((DRY_RUN)); then
        say "cleanup would uninstall release $RELEASE and delete namespace $ns with party $PARTY_ID's signing key, broker CA and volumes"
        return
    fi
    command -v kubectl >/dev/null || die "cleanup needs kubectl to delete the kept keys and volumes"
    if ((YES == 0)); then
        read -r -p "Delete party $PARTY_ID: its release, signing key, broker CA, data volumes and namespace $ns? [y/N] " answer ||
            answer=""
        [[ $answer == [yY]* ]] || die "nothing deleted"
    fi
    "$HELM" uninstall "$RELEASE" --namespace "$ns" --ignore-not-found
    kubectl delete namespace "$ns" --ignore-not-found --wait=true
    say "party $PARTY_ID removed with its data (namespace $ns)"
}

main() {
    parse_args "$@"
    load_env
    if [[ $ACTION == cleanup ]]; then
        matches PARTY_ID "$ID_RE" "a party id"
    else
        check_env
    fi
    find_helm
    local ns=power-fl-$PARTY_ID
    if [[ $ACTION == cleanup ]]; then cleanup "$ns"; return; fi
    map_values
    install "$ns"
}

main "$@"
