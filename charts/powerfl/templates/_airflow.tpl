{{/* What every Airflow pod shares: environment, volumes, the registry init container. */}}

{{- define "powerfl.airflowEnv" -}}
{{- $scheme := ternary "https" "http" (not (empty .Values.ingress.tlsSecret)) -}}
- {name: AIRFLOW__CORE__EXECUTOR, value: {{ .Values.airflow.executor }}}
- {name: AIRFLOW__CORE__DAGS_FOLDER, value: {{ .Values.airflow.dagsFolder | quote }}}
- {name: AIRFLOW__CORE__LOAD_EXAMPLES, value: "False"}
- {name: AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION, value: "False"}
- {name: AIRFLOW__CORE__EXECUTION_API_SERVER_URL, value: {{ printf "%s/execution/" (include "powerfl.apiServerUrl" .) | quote }}}
- {name: AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS, value: {{ printf "%s:admin" .Values.airflow.adminUser | quote }}}
- {name: AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE, value: /etc/powerfl/airflow/passwords.json}
- {name: AIRFLOW__API__BASE_URL, value: {{ printf "%s://%s/pipelines" $scheme .Values.domain | quote }}}
- {name: AIRFLOW__API__PORT, value: {{ .Values.airflow.apiServer.port | quote }}}
{{- /* task logs are served by the scheduler's (LocalExecutor) or worker's log server, found by pod IP */}}
- {name: AIRFLOW__CORE__HOSTNAME_CALLABLE, value: airflow.utils.net.get_host_ip_address}
{{- /* a scheduler restarted after a crash gives the dead one's tasks a new try at its check for them: every 15 s,
not Airflow's 300 (docs/reliability.md) */}}
- {name: AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL, value: "15"}
- name: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN
  valueFrom:
    secretKeyRef:
      {{- if .Values.components.postgresql.enabled }}
      {name: powerfl-airflow, key: sql_alchemy_conn}
      {{- else }}
      {name: {{ .Values.database.external.secretName }}, key: {{ .Values.database.external.secretKey }}}
      {{- end }}
- {name: AIRFLOW__API_AUTH__JWT_SECRET, valueFrom: {secretKeyRef: {name: powerfl-airflow, key: jwt-secret}}}
- {name: AIRFLOW__API__SECRET_KEY, valueFrom: {secretKeyRef: {name: powerfl-airflow, key: api-secret-key}}}
- {name: AIRFLOW__CORE__FERNET_KEY, valueFrom: {secretKeyRef: {name: powerfl-airflow, key: fernet-key}}}
{{- if eq .Values.airflow.executor "KubernetesExecutor" }}
- {name: AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE, value: {{ .Release.Namespace }}}
- {name: AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE, value: /opt/powerfl-chart/pod-template.yaml}
{{- end }}
- name: AIRFLOW_CONN_POWERFL_DEFAULT
  value: {{ include "powerfl.connection" . | quote }}
- {name: POWERFL_PIPELINES_DIR, value: /var/lib/powerfl/pipelines}
- {name: HADOOP_CONF_DIR, value: {{ .Values.hadoop.confDir | quote }}}
{{- range $name, $value := .Values.airflow.env }}
- {name: {{ $name }}, value: {{ $value | quote }}}
{{- end }}
{{- end }}

{{/* The powerfl connection: paths only, every secret is a mounted file. Its kubernetes field is this party's own
     settings of the Kubernetes runtime's step pods (runtimes/kubernetes.py): they beat a job conf's, so the pods of
     jobs this party is invited to run here too, as powerfl-airflow, with this release's image and Secrets. */}}
{{- define "powerfl.connection" -}}
{{- $pods := dict "namespace" .Release.Namespace "service_account" "powerfl-airflow"
      "image" (include "powerfl.image" (dict "root" . "name" "runtime")) "keys_secret" (.Values.keys.existingSecret | default "powerfl-keys")
      "kafka_secret" "powerfl-partners" "kafka_secret_dir" "/etc/powerfl/kafka" "hadoop_config_map" "hadoop" "hadoop_conf_dir" .Values.hadoop.confDir -}}
{{- $pull := list }}{{ range .Values.imagePullSecrets }}{{ $pull = append $pull .name }}{{ end }}
{{- with $pull }}{{ $_ := set $pods "image_pull_secrets" . }}{{ end }}
{{- with .Values.airflow.stepPods.resources }}{{ $_ := set $pods "resources" . }}{{ end }}
{{- with .Values.airflow.stepPods.envFromSecrets }}{{ $_ := set $pods "env_from_secrets" . }}{{ end }}
{{- $extra := dict "party_id" (.Values.party.id | toString) "role" .Values.party.role "runtime" .Values.airflow.runtime
      "registry_path" "/etc/powerfl/registry/parties.yaml" "private_key_path" "/etc/powerfl/keys/private.pem"
      "policy_path" "/etc/powerfl/policy/policy.yaml" "kubernetes" $pods -}}
{{- dict "conn_type" "powerfl" "extra" $extra | toJson -}}
{{- end }}

{{- define "powerfl.airflowMounts" -}}
- {name: airflow-home, mountPath: /opt/airflow}
- {name: registry, mountPath: /etc/powerfl/registry, readOnly: true}
- {name: keys, mountPath: /etc/powerfl/keys, readOnly: true}
- {name: partners, mountPath: /etc/powerfl/kafka, readOnly: true}
- {name: public-keys, mountPath: /etc/powerfl/public-keys, readOnly: true}
- {name: policy, mountPath: /etc/powerfl/policy, readOnly: true}
- {name: airflow-passwords, mountPath: /etc/powerfl/airflow, readOnly: true}
- {name: pipelines, mountPath: /var/lib/powerfl/pipelines}
- {name: hadoop, mountPath: {{ .Values.hadoop.confDir }}, readOnly: true}
- {name: scripts, mountPath: /opt/powerfl-chart, readOnly: true}
{{- end }}

{{- define "powerfl.airflowVolumes" -}}
- {name: airflow-home, emptyDir: {}}
- {name: registry, emptyDir: {medium: Memory}}
- {name: registry-template, configMap: {name: powerfl-registry}}
- {name: keys, secret: {secretName: {{ .Values.keys.existingSecret | default "powerfl-keys" }}, defaultMode: 0400, items: [{key: private.pem, path: private.pem}]}}
- {name: partners, secret: {secretName: powerfl-partners, defaultMode: 0400}}
- {name: public-keys, configMap: {name: powerfl-public-keys}}
- {name: policy, configMap: {name: powerfl-policy}}
- {name: airflow-passwords, secret: {secretName: powerfl-airflow, defaultMode: 0400, items: [{key: passwords.json, path: passwords.json}]}}
- {name: pipelines, persistentVolumeClaim: {claimName: powerfl-pipelines}}
- {name: pipelines-chart, configMap: {name: powerfl-pipelines}}
- {name: hadoop, configMap: {name: hadoop}}
- {name: scripts, configMap: {name: powerfl-scripts}}
{{- end }}

{{/* Init containers: the registry with its secrets (files/render_registry.py), then the database schema. */}}
{{- define "powerfl.airflowInit" -}}
- name: registry
  image: {{ include "powerfl.image" (dict "root" . "name" "runtime") }}
  imagePullPolicy: {{ .Values.image.runtime.pullPolicy }}
  command: ["python", "/opt/powerfl-chart/render_registry.py"]
  env:
    - {name: POWERFL_PARTY_ID, value: {{ .Values.party.id | quote }}}
  volumeMounts:
    - {name: registry, mountPath: /etc/powerfl/registry}
    - {name: registry-template, mountPath: /etc/powerfl/registry-template, readOnly: true}
    - {name: keys, mountPath: /etc/powerfl/keys, readOnly: true}
    - {name: partners, mountPath: /etc/powerfl/kafka, readOnly: true}
    - {name: scripts, mountPath: /opt/powerfl-chart, readOnly: true}
- name: wait-for-db
  image: {{ include "powerfl.image" (dict "root" . "name" "runtime") }}
  imagePullPolicy: {{ .Values.image.runtime.pullPolicy }}
  command: ["airflow", "db", "check-migrations", "--migration-wait-timeout", "600"]
  env: {{- include "powerfl.airflowEnv" . | nindent 4 }}
  volumeMounts:
    - {name: airflow-home, mountPath: /opt/airflow}
{{- end }}

{{/* One Airflow component's Deployment; .name is its airflow subcommand, .values its settings. */}}
{{- define "powerfl.airflowDeployment" -}}
{{- $root := .root }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: powerfl-{{ .name }}
  labels: {{- include "powerfl.labels" $root | nindent 4 }}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector:
    matchLabels: {{- include "powerfl.selector" (dict "root" $root "component" .name) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "powerfl.selector" (dict "root" $root "component" .name) | nindent 8 }}
        powerfl/airflow: "true"
      annotations:
        checksum/config: {{ list $root.Values.parties $root.Values.policy $root.Values.airflow $root.Values.hadoop | toJson | sha256sum }}
    spec:
      serviceAccountName: powerfl-airflow
      securityContext: {runAsNonRoot: true, runAsUser: 50000, fsGroup: 0}
      {{- include "powerfl.airflowScheduling" $root | nindent 6 }}
      initContainers: {{- include "powerfl.airflowInit" $root | nindent 8 }}
        {{- with .init }}{{ . | nindent 8 }}{{ end }}
      containers:
        - name: {{ .name }}
          image: {{ include "powerfl.image" (dict "root" $root "name" "runtime") }}
          imagePullPolicy: {{ $root.Values.image.runtime.pullPolicy }}
          args: ["airflow", {{ .name | quote }}]
          env: {{- include "powerfl.airflowEnv" $root | nindent 12 }}
          {{- with .ports }}
          ports: {{- . | nindent 12 }}
          {{- end }}
          {{- .probes | nindent 10 }}
          resources: {{- toYaml .values.resources | nindent 12 }}
          volumeMounts: {{- include "powerfl.airflowMounts" $root | nindent 12 }}
      volumes: {{- include "powerfl.airflowVolumes" $root | nindent 8 }}
{{- end }}

{{/* Airflow pods share the pipelines volume: with ReadWriteOnce they must run on one node. */}}
{{- define "powerfl.airflowScheduling" -}}
{{- if and (eq .Values.pipelines.persistence.accessMode "ReadWriteOnce") (not .Values.affinity) -}}
{{- $affinity := dict "podAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (list (dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (dict "powerfl/airflow" "true"))))) -}}
{{- include "powerfl.scheduling" (dict "root" . "own" (dict "affinity" $affinity)) }}
{{- else -}}
{{- include "powerfl.scheduling" (dict "root" .) }}
{{- end }}
{{- end }}

{{/* A liveness/readiness pair running `airflow jobs check` for a job type (scheduler, dag-processor, triggerer). */}}
{{- define "powerfl.jobCheckProbes" -}}
startupProbe:
  exec: {command: ["airflow", "jobs", "check", "--job-type", {{ . | quote }}, "--local"]}
  periodSeconds: 15
  timeoutSeconds: 60
  failureThreshold: 20
livenessProbe:
  exec: {command: ["airflow", "jobs", "check", "--job-type", {{ . | quote }}, "--local"]}
  periodSeconds: 60
  timeoutSeconds: 60
  failureThreshold: 5
{{- end }}

{{/* KubernetesExecutor's worker pod: the same image, environment and files as the scheduler. */}}
{{- define "powerfl.podTemplate" -}}
apiVersion: v1
kind: Pod
metadata:
  name: powerfl-worker
  labels:
    {{- include "powerfl.selector" (dict "root" . "component" "worker") | nindent 4 }}
    powerfl/airflow: "true"
spec:
  serviceAccountName: powerfl-airflow
  restartPolicy: Never
  securityContext: {runAsNonRoot: true, runAsUser: 50000, fsGroup: 0}
  {{- include "powerfl.airflowScheduling" . | nindent 2 }}
  initContainers:
    {{- include "powerfl.airflowInit" . | nindent 4 }}
  containers:
    - name: base
      image: {{ include "powerfl.image" (dict "root" . "name" "runtime") }}
      imagePullPolicy: {{ .Values.image.runtime.pullPolicy }}
      env: {{- include "powerfl.airflowEnv" . | nindent 8 }}
      resources: {{- toYaml .Values.airflow.scheduler.resources | nindent 8 }}
      volumeMounts: {{- include "powerfl.airflowMounts" . | nindent 8 }}
  volumes: {{- include "powerfl.airflowVolumes" . | nindent 4 }}
{{- end }}
