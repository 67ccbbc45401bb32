#!/bin/sh
# The broker's start: its server.properties from the ConfigMap plus the external listener's accounts from
# the Secret (files only: no secret reaches a command line), its PEM key store from the TLS Secret (the key as
# PKCS#8, the only private-key form Kafka's PEM store reads), the data directory formatted once (KRaft, one
# node), then the broker in the foreground.
set -euf  # no globbing: the class path is a Java wildcard
RUN=/var/run/kafka
DATA=/var/lib/kafka/data
CP="$KAFKA_HOME/libs/*"
umask 077
cat /etc/kafka/config/server.properties /etc/kafka/users/sasl.properties > "$RUN/server.properties"
openssl pkey -in /etc/kafka/tls/tls.key > "$RUN/keystore.pem"
cat /etc/kafka/tls/tls.crt >> "$RUN/keystore.pem"
JAVA="java -Xms$KAFKA_HEAP -Xmx$KAFKA_HEAP -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true"
JAVA="$JAVA ${KAFKA_OPTS:-} -Dlog4j2.configurationFile=$KAFKA_HOME/log4j2.xml -Dkafka.logs.dir=$RUN -cp $CP"
if [ ! -f "$DATA/meta.properties" ]; then
    cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    $JAVA kafka.tools.StorageTool format --standalone --cluster-id="$cluster_id" -c "$RUN/server.properties"
fi
exec $JAVA kafka.Kafka "$RUN/server.properties"
