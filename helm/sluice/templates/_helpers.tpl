{{/*
Names are fixed, not derived from the release: Sluice's settings (k8s_settings_config_map, k8s_settings_secret,
k8s_spark_service_account) and Terraform's IRSA roles (service_accounts) name these objects, so one release per
namespace.
*/}}

{{- define "sluice.chart" -}}
{{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* Labels of every object; `component` names the part (sink, sql-endpoint, ...). Call with (dict "root" $ "component" "sink"). */}}
{{- define "sluice.labels" -}}
helm.sh/chart: {{ include "sluice.chart" .root }}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: sluice
{{- end -}}

{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: sluice
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{/* The image of the sink, the SQL endpoint and the Spark jobs: repository@digest, else repository:tag (appVersion). */}}
{{- define "sluice.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* Every pod: not root, the runtime's default seccomp profile; volumes writable by the group. */}}
{{- define "sluice.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Every container: no privilege escalation, no capabilities, a read-only root filesystem (state on emptyDirs). */}}
{{- define "sluice.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* A setting's value as a ConfigMap string: maps and lists as JSON (pydantic-settings parses it), whole numbers
without an exponent (Helm reads YAML numbers as floats: 67108864 would print as 6.7108864e+07). */}}
{{- define "sluice.settingValue" -}}
{{- if or (kindIs "map" .) (kindIs "slice" .) -}}
{{ toJson . }}
{{- else if and (kindIs "float64" .) (eq (floor .) .) -}}
{{ int64 . }}
{{- else -}}
{{ . }}
{{- end -}}
{{- end -}}

{{/* A Sluice setting from .Values.settings, else Sluice's default (sluice/settings.py). Call with (list $ "name" default). */}}
{{- define "sluice.setting" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- if hasKey $root.Values.settings $name -}}
{{ include "sluice.settingValue" (index $root.Values.settings $name) }}
{{- else -}}
{{ index . 2 }}
{{- end -}}
{{- end -}}

{{/* envFrom of every Sluice container: the settings ConfigMap, then the Secret. */}}
{{- define "sluice.envFrom" -}}
- configMapRef:
    name: sluice-settings
- secretRef:
    name: sluice-secrets
{{- end -}}

{{/* An egress rule to a list of CIDRs on some ports. Call with (dict "cidrs" [...] "except" [...] "ports" [...]).
`except` applies to 0.0.0.0/0 only (an except must lie inside its CIDR). */}}
{{- define "sluice.egressToCidrs" -}}
- to:
  {{- range .cidrs }}
    - ipBlock:
        cidr: {{ . }}
        {{- if and (eq . "0.0.0.0/0") $.except }}
        except:
          {{- toYaml $.except | nindent 10 }}
        {{- end }}
  {{- end }}
  ports:
  {{- range .ports }}
    - protocol: TCP
      port: {{ . }}
  {{- end }}
{{- end -}}

{{- /* checkov's skips on a workload, each with its reason (checkov reads them from the object's annotations). */ -}}
{{- define "sluice.checkovSkips" -}}
checkov.io/skip1: CKV_K8S_35=Sluice reads every setting, secrets included, from SLUICE_ variables (pydantic-settings), as the SparkApplications do
{{- if not .Values.image.digest }}
checkov.io/skip2: CKV_K8S_43=the image is pinned by its immutable release tag; set image.digest to pin it by digest too
{{- end }}
{{- end }}
