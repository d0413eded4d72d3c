{{/* Names and labels shared by every template. */}}

{{- define "jitbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "jitbot.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "jitbot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jitbot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "jitbot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "jitbot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "jitbot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "jitbot.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the tokens: the operator's, or the one the chart creates. */}}
{{- define "jitbot.secretName" -}}
{{- default (include "jitbot.fullname" .) .Values.secret.existingSecret -}}
{{- end -}}

{{- define "jitbot.catalogConfigMap" -}}
{{- default (printf "%s-catalog" (include "jitbot.fullname" .)) .Values.catalog.existingConfigMap -}}
{{- end -}}

{{/* REDIS_URL comes from the Secret when asked to, or when the chart's own Secret carries it. */}}
{{- define "jitbot.redisFromSecret" -}}
{{- if or .Values.redis.urlFromSecret (and (not .Values.secret.existingSecret) .Values.secret.redisURL) -}}true{{- end -}}
{{- end -}}

{{/*
jitbot.validate refuses values that would deploy a bot that cannot work, or
one that is unsafe: replicas with separate in-memory stores would each
know only their own requests, and a grant's revocation would be lost with
the pod that issued it. Every problem is named at once.
*/}}
{{- define "jitbot.validate" -}}
{{- $problems := list -}}
{{- if and (not .Values.secret.existingSecret) (or (not .Values.secret.slackAppToken) (not .Values.secret.slackBotToken)) -}}
{{- $problems = append $problems "Slack tokens: set secret.existingSecret (a Secret with SLACK_APP_TOKEN and SLACK_BOT_TOKEN) or both secret.slackAppToken and secret.slackBotToken" -}}
{{- end -}}
{{- if and .Values.secret.slackAppToken (not (hasPrefix "xapp-" .Values.secret.slackAppToken)) -}}
{{- $problems = append $problems "secret.slackAppToken: expected an app-level token starting with xapp-" -}}
{{- end -}}
{{- if and .Values.secret.slackBotToken (not (hasPrefix "xoxb-" .Values.secret.slackBotToken)) -}}
{{- $problems = append $problems "secret.slackBotToken: expected a bot token starting with xoxb-" -}}
{{- end -}}
{{- if and (not .Values.catalog.existingConfigMap) (not .Values.catalog.roles) -}}
{{- $problems = append $problems "role catalog: set catalog.roles (--set-file catalog.roles=rules/roles.yaml) or catalog.existingConfigMap" -}}
{{- end -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.redis.url) (not (include "jitbot.redisFromSecret" .)) -}}
{{- $problems = append $problems (printf "Redis: %d replicas need a shared Redis; set redis.url, redis.urlFromSecret or secret.redisURL (or replicaCount=1 for a trial with the in-memory store, which loses every grant on restart)" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and .Values.config.JIT_AUDIT_S3_BUCKET (not .Values.redis.url) (not (include "jitbot.redisFromSecret" .)) -}}
{{- $problems = append $problems "config.JIT_AUDIT_S3_BUCKET needs Redis: the in-memory store keeps no audit log to export" -}}
{{- end -}}
{{- range $name, $_ := .Values.config -}}
{{- if has $name (list "SLACK_APP_TOKEN" "SLACK_BOT_TOKEN" "REDIS_URL" "JIT_PAGERDUTY_TOKEN" "JIT_RULES" "JIT_HTTP_ADDR") -}}
{{- $problems = append $problems (printf "config.%s: set it through secret.*, redis.*, catalog.* or service.port instead" $name) -}}
{{- end -}}
{{- end -}}
{{- if $problems -}}
{{- fail (printf "\n  - %s" (join "\n  - " $problems)) -}}
{{- end -}}
{{- end -}}
