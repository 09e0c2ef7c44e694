{{/*
The chart's name, or nameOverride.
*/}}
{{- define "sightline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the objects: fullnameOverride, else the release name when it
contains the chart's name, else "<release>-<name>" (63 characters at most).
*/}}
{{- define "sightline.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "sightline.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "sightline.labels" -}}
helm.sh/chart: {{ include "sightline.chart" . }}
{{ include "sightline.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels selecting the daemon's pods.
*/}}
{{- define "sightline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sightline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount the daemon runs as.
*/}}
{{- define "sightline.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sightline.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Secret holding the alert channels' credentials.
*/}}
{{- define "sightline.alertsSecretName" -}}
{{- default (printf "%s-alerts" (include "sightline.fullname" .)) .Values.alerts.existingSecret }}
{{- end }}

{{/*
The image reference: repository:tag (appVersion by default) or repository@digest.
*/}}
{{- define "sightline.image" -}}
{{- $repo := required "image.repository is required" .Values.image.repository }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (toString (default .Chart.AppVersion .Values.image.tag)) }}
{{- end }}
{{- end }}

{{/*
The container's security context for .Values.securityProfile.
*/}}
{{- define "sightline.securityContext" -}}
{{- if eq (toString .Values.securityProfile) "privileged" }}
privileged: true
runAsUser: 0
{{- else if eq (toString .Values.securityProfile) "least-privilege" }}
privileged: false
runAsUser: 0
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
seccompProfile:
  type: RuntimeDefault
capabilities:
  drop: [ALL]
  add:
    {{- toYaml (concat (list "BPF" "PERFMON" "SYS_PTRACE" "SYS_RESOURCE" "DAC_READ_SEARCH" "CHECKPOINT_RESTORE") .Values.extraCapabilities) | nindent 4 }}
{{- else }}
{{- fail (printf "securityProfile must be \"privileged\" or \"least-privilege\", not %q" (toString .Values.securityProfile)) }}
{{- end }}
{{- end }}

{{/*
sightline.toml: the shipped file, whose keys set by .Values.config (or
k8s-pod-label by .Values.k8sPodLabel) are dropped, then those keys, one line
each, values written as TOML (strings quoted, lists as arrays).
*/}}
{{- define "sightline.toml" -}}
{{- $extra := deepCopy (default dict .Values.config) }}
{{- if .Values.k8sPodLabel }}
{{- $_ := set $extra "k8s-pod-label" true }}
{{- end }}
{{- $lines := list }}
{{- range $line := splitList "\n" (.Files.Get "files/sightline.toml") }}
{{- $key := regexReplaceAll "^([A-Za-z0-9_-]+)\\s*=.*$" $line "${1}" }}
{{- if not (and (ne $key $line) (hasKey $extra $key)) }}
{{- $lines = append $lines $line }}
{{- end }}
{{- end }}
{{- $text := join "\n" $lines }}
{{- $text }}
{{- if and $extra (not (hasSuffix "\n" $text)) }}
{{- "\n" }}
{{- end }}
{{- range $key, $value := $extra }}
{{- if kindIs "map" $value }}
{{- fail (printf "config.%s is a table: sightline.toml keys take strings, numbers, booleans or lists" $key) }}
{{- end }}
{{- printf "%s = %s\n" $key (toJson $value) }}
{{- end }}
{{- end }}
