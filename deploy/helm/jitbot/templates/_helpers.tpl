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

{{/* Whether jitbot is given a Redis at all. */}}
{{- define "jitbot.redis" -}}
{{- if or .Values.redis.url (include "jitbot.redisFromSecret" .) -}}true{{- end -}}
{{- end -}}

{{/* REDIS_URL comes from the Secret when asked to, or when the chart's own Secret carries it. */}}
{{- define "jitbot.redisFromSecret" -}}
{{- if or .Values.redis.urlFromSecret (and (not .Values.secret.existingSecret) .Values.secret.redisURL) -}}true{{- end -}}
{{- end -}}

{{/* "true" in http mode (slack.mode), where Slack posts to the pods. */}}
{{- define "jitbot.httpMode" -}}
{{- if eq (toString .Values.slack.mode) "http" -}}true{{- end -}}
{{- end -}}

{{/* The Service and Ingress of Slack's requests in http mode. */}}
{{- define "jitbot.slackName" -}}
{{- printf "%s-slack" (include "jitbot.fullname" . | trunc 57 | trimSuffix "-") -}}
{{- end -}}

{{/* "true" when a config value is one that jitbot's envconfig reads as true. */}}
{{- define "jitbot.isTrue" -}}
{{- if has (lower (toString .)) (list "1" "t" "true") -}}true{{- end -}}
{{- end -}}

{{/*
jitbot.validate refuses values that would deploy a bot that cannot work, or
one that is unsafe: replicas with separate in-memory stores would each
know only their own requests, and a grant's revocation would be lost with
the pod that issued it. Every problem is named at once.
*/}}
{{- define "jitbot.validate" -}}
{{- $problems := list -}}
{{- $http := include "jitbot.httpMode" . -}}
{{- if not (has (toString .Values.slack.mode) (list "socket" "http")) -}}
{{- $problems = append $problems (printf "slack.mode: expected socket or http, got %q" (toString .Values.slack.mode)) -}}
{{- end -}}
{{- if and (not .Values.secret.existingSecret) $http (or (not .Values.secret.slackBotToken) (not .Values.secret.slackSigningSecret)) -}}
{{- $problems = append $problems "Slack credentials: http mode needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET; set secret.existingSecret (a Secret with those keys) or both secret.slackBotToken and secret.slackSigningSecret" -}}
{{- else if and (not .Values.secret.existingSecret) (not $http) (or (not .Values.secret.slackAppToken) (not .Values.secret.slackBotToken)) -}}
{{- $problems = append $problems "Slack tokens: set secret.existingSecret (a Secret with SLACK_APP_TOKEN and SLACK_BOT_TOKEN) or both secret.slackAppToken and secret.slackBotToken" -}}
{{- end -}}
{{- if and .Values.secret.slackAppToken (not (hasPrefix "xapp-" .Values.secret.slackAppToken)) -}}
{{- $problems = append $problems "secret.slackAppToken: expected an app-level token starting with xapp-" -}}
{{- end -}}
{{- if and .Values.secret.slackBotToken (not (hasPrefix "xoxb-" .Values.secret.slackBotToken)) -}}
{{- $problems = append $problems "secret.slackBotToken: expected a bot token starting with xoxb-" -}}
{{- end -}}
{{- with .Values.secret.slackSigningSecret -}}
{{- /* The checks of jitbot's own start, so that a mistake shows here and not as every Slack request refused; the value is never printed. */ -}}
{{- if ne (trim .) . -}}
{{- $problems = append $problems "secret.slackSigningSecret: starts or ends with white space; expected the signing secret alone" -}}
{{- else if or (hasPrefix "xox" .) (hasPrefix "xapp-" .) -}}
{{- $problems = append $problems "secret.slackSigningSecret: expected the app's signing secret, got a token (xox…/xapp-…)" -}}
{{- else if lt (len .) 32 -}}
{{- $problems = append $problems (printf "secret.slackSigningSecret: expected the app's signing secret (Basic Information → App Credentials → Signing Secret, 32 characters), got %d characters" (len .)) -}}
{{- end -}}
{{- end -}}
{{- if and $http (eq (int .Values.slack.port) (int .Values.service.port)) -}}
{{- $problems = append $problems (printf "slack.port: expected a port other than service.port's %d: Slack's endpoints are public, the probes and /metrics are not" (int .Values.slack.port)) -}}
{{- end -}}
{{- if .Values.ingress.enabled -}}
{{- if not $http -}}
{{- $problems = append $problems "ingress.enabled: the Ingress carries Slack's requests in http mode; set slack.mode=http (Socket Mode needs no Ingress)" -}}
{{- end -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$" (toString .Values.ingress.host)) -}}
{{- $problems = append $problems (printf "ingress.host: expected the public host of the Slack app's request URLs, such as jitbot.example.com (no scheme, port or path), got %q" (toString .Values.ingress.host)) -}}
{{- end -}}
{{- end -}}
{{- if and (not .Values.catalog.existingConfigMap) (not .Values.catalog.roles) -}}
{{- $problems = append $problems "role catalog: set catalog.roles (--set-file catalog.roles=rules/roles.yaml) or catalog.existingConfigMap" -}}
{{- end -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.redis.url) (not (include "jitbot.redisFromSecret" .)) -}}
{{- $problems = append $problems (printf "Redis: %d replicas need a shared Redis; set redis.url, redis.urlFromSecret or secret.redisURL (or replicaCount=1 for a trial with the in-memory store, which loses every grant on restart)" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and (include "jitbot.redis" .) (not .Values.secret.existingSecret) (not .Values.secret.signingKey) -}}
{{- $problems = append $problems "secret.signingKey: Redis needs JIT_SIGNING_KEY, which signs its records so that whoever can write to Redis cannot forge an approval; set secret.signingKey (32 bytes or more, e.g. openssl rand -base64 48) or put JIT_SIGNING_KEY in secret.existingSecret" -}}
{{- end -}}
{{- if and .Values.config.JIT_AUDIT_S3_BUCKET (not .Values.redis.url) (not (include "jitbot.redisFromSecret" .)) -}}
{{- $problems = append $problems "config.JIT_AUDIT_S3_BUCKET needs Redis: the in-memory store keeps no audit log to export" -}}
{{- end -}}
{{- if include "jitbot.isTrue" .Values.config.JIT_DRY_RUN -}}
{{- if include "jitbot.isTrue" .Values.config.JIT_USAGE_LOOKUP -}}
{{- $problems = append $problems "config.JIT_USAGE_LOOKUP: cannot be true with JIT_DRY_RUN: a dry run issues no AWS access for CloudTrail to show" -}}
{{- end -}}
{{- if .Values.config.JIT_AUDIT_S3_BUCKET -}}
{{- $problems = append $problems "config.JIT_AUDIT_S3_BUCKET: cannot be set with JIT_DRY_RUN: a dry run calls no AWS API, S3 included" -}}
{{- end -}}
{{- end -}}
{{- $elsewhere := dict
    "SLACK_APP_TOKEN" "secret.* (config values are plain text in the Deployment)"
    "SLACK_BOT_TOKEN" "secret.* (config values are plain text in the Deployment)"
    "SLACK_SIGNING_SECRET" "secret.* (config values are plain text in the Deployment)"
    "JIT_PAGERDUTY_TOKEN" "secret.* (config values are plain text in the Deployment)"
    "JIT_PAGERDUTY_WEBHOOK_SECRET" "secret.* (config values are plain text in the Deployment)"
    "JIT_SIGNING_KEY" "secret.* (config values are plain text in the Deployment)"
    "JIT_SIGNING_KEY_PREVIOUS" "secret.* (config values are plain text in the Deployment)"
    "REDIS_URL" "redis.*"
    "JIT_RULES" "catalog.*"
    "JIT_HTTP_ADDR" "service.port"
    "JIT_SLACK_MODE" "slack.mode"
    "JIT_SLACK_ADDR" "slack.port" -}}
{{- range $name, $_ := .Values.config -}}
{{- with get $elsewhere $name -}}
{{- $problems = append $problems (printf "config.%s: set it through %s instead" $name .) -}}
{{- end -}}
{{- end -}}
{{- if $problems -}}
{{- fail (printf "\n  - %s" (join "\n  - " $problems)) -}}
{{- end -}}
{{- end -}}
