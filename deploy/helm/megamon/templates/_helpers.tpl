{{/* The chart name, possibly overridden. */}}
{{- define "megamon.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name when it already contains the chart name. */}}
{{- define "megamon.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "megamon.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "megamon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: megamon
{{- end }}

{{- define "megamon.selectorLabels" -}}
app.kubernetes.io/name: {{ include "megamon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: monitor
{{- end }}

{{- define "megamon.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "megamon.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "megamon.reportConfigMapName" -}}
{{- default (printf "%s-report" (include "megamon.fullname" .)) .Values.reportConfigMap.name }}
{{- end }}

{{- define "megamon.sliceOwnerMapConfigMapName" -}}
{{- default (printf "%s-slice-owner-map" (include "megamon.fullname" .)) .Values.sliceOwnerMapConfigMap.name }}
{{- end }}

{{/* config.json: the values' config plus the addresses and report ConfigMap of this release. */}}
{{- define "megamon.configJSON" -}}
{{- $c := deepCopy .Values.config }}
{{- if not (or $c.EventsBucketName $c.EventsStoreURL $c.EnableSimulation) }}
{{- fail "config.EventsBucketName (or config.EventsStoreURL) is required: MegaMon keeps its history there. Set config.EnableSimulation=true to try it without GKE and GCS." }}
{{- end }}
{{- $_ := set $c "MetricsAddr" (printf ":%v" .Values.ports.metrics) }}
{{- $_ := set $c "ProbeAddr" (printf ":%v" .Values.ports.probes) }}
{{- $_ := set $c "ReportConfigMapRef" (dict "Namespace" .Release.Namespace "Name" (include "megamon.reportConfigMapName" .)) }}
{{- $_ := set $c "EnableLeaderElection" .Values.leaderElection.enabled }}
{{- $_ := set $c "SecureMetrics" .Values.secureMetrics.enabled }}
{{- $_ := set $c "SliceOwnerMapConfigMapRef" (dict "Namespace" .Release.Namespace "Name" (include "megamon.sliceOwnerMapConfigMapName" .)) }}
{{- toPrettyJson $c }}
{{- end }}

{{- define "megamon.scraperName" -}}
{{- printf "%s-metrics-scraper" (include "megamon.fullname" .) }}
{{- end }}
