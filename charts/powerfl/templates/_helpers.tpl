{{/* Object names are fixed (one release per namespace power-fl-<party>): the Kubernetes runtime's defaults
     name the Secret powerfl-keys and the ConfigMap hadoop. */}}

{{- define "powerfl.labels" -}}
app.kubernetes.io/name: powerfl
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
powerfl/party: {{ .Values.party.id | quote }}
{{- end }}

{{- define "powerfl.selector" -}}
app.kubernetes.io/name: powerfl
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "powerfl.image" -}}
{{- $img := index .root.Values.image .name -}}
{{ $img.repository }}:{{ $img.tag | default .root.Chart.AppVersion }}
{{- end }}

{{- define "powerfl.required" -}}
{{- if not .Values.party.id }}{{ fail "party.id (PARTY_ID) must be set" }}{{ end }}
{{- if not .Values.domain }}{{ fail "domain (DOMAIN) must be set" }}{{ end }}
{{- if and (not .Values.components.postgresql.enabled) (not .Values.database.external.secretName) }}
{{- fail "database.external.secretName must name a Secret with Airflow's connection string when components.postgresql is disabled" }}
{{- end }}
{{- end }}

{{/* The broker this party's own pods use: the chart's Service unless INTERNAL_MQ_HOST names another. */}}
{{- define "powerfl.kafkaInternal" -}}
{{- $host := .Values.kafka.internal.host | default (printf "powerfl-kafka.%s.svc.cluster.local" .Release.Namespace) -}}
{{ $host }}:{{ .Values.kafka.internal.port }}
{{- end }}

{{- define "powerfl.apiServerUrl" -}}
http://powerfl-api-server.{{ .Release.Namespace }}.svc.cluster.local:{{ .Values.airflow.apiServer.port }}/pipelines
{{- end }}

{{/* A pod's scheduling: its component's own settings, else the chart-wide ones. */}}
{{- define "powerfl.scheduling" -}}
{{- $own := .own | default dict -}}
{{- with ($own.nodeSelector | default .root.Values.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with ($own.tolerations | default .root.Values.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with ($own.affinity | default .root.Values.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* A Secret's value kept across upgrades: the live object's, else .fresh or a new random one. */}}
{{- define "powerfl.kept" -}}
{{- $live := lookup "v1" "Secret" .root.Release.Namespace .secret -}}
{{- if and $live (hasKey ($live.data | default dict) .key) -}}
{{ index $live.data .key | b64dec }}
{{- else -}}
{{ .fresh | default (randAlphaNum 32) }}
{{- end }}
{{- end }}
