{{/*
Names, labels, images and the values tree the hub reads. Every template includes these, so a
name or label is spelt in one place.
*/}}

{{- define "cs3hub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object name; short enough for the longest suffix ("-proxy-public"). */}}
{{- define "cs3hub.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 42 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 42 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 42 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cs3hub.hub.name" -}}{{ include "cs3hub.fullname" . }}-hub{{- end }}
{{- define "cs3hub.proxy.name" -}}{{ include "cs3hub.fullname" . }}-proxy{{- end }}
{{- define "cs3hub.proxyApi.name" -}}{{ include "cs3hub.fullname" . }}-proxy-api{{- end }}
{{- define "cs3hub.proxyPublic.name" -}}{{ include "cs3hub.fullname" . }}-proxy-public{{- end }}
{{- define "cs3hub.singleuser.name" -}}{{ include "cs3hub.fullname" . }}-singleuser{{- end }}

{{/* The Secret the chart owns: the hub's values tree, and the generated secrets. */}}
{{- define "cs3hub.secret.name" -}}{{ include "cs3hub.fullname" . }}-hub{{- end }}

{{/* Where the hub finds cookie-secret, crypt-key and proxy-token. */}}
{{- define "cs3hub.hubSecrets.name" -}}
{{- .Values.existingSecret | default (include "cs3hub.secret.name" .) }}
{{- end }}

{{/* KubeSpawner's component label of user pods (its default). */}}
{{- define "cs3hub.singleuser.component" -}}singleuser-server{{- end }}

{{- define "cs3hub.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select one release's pods (with app.kubernetes.io/component added). */}}
{{- define "cs3hub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cs3hub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cs3hub.labels" -}}
{{ include "cs3hub.selectorLabels" . }}
helm.sh/chart: {{ include "cs3hub.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "cs3hub.name" . }}
{{- end }}

{{/* Labels of one component's objects: (dict "root" $ "component" "hub") */}}
{{- define "cs3hub.componentLabels" -}}
{{ include "cs3hub.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "cs3hub.componentSelector" -}}
{{ include "cs3hub.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* repository:tag of an image block; the tag defaults to the chart's appVersion. */}}
{{- define "cs3hub.image" -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .root.Chart.AppVersion | toString) }}
{{- end }}

{{/* Pod-level security defaults: (dict "uid" 1000 "gid" 1000) */}}
{{- define "cs3hub.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .gid }}
fsGroup: {{ .gid }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "cs3hub.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The public URL of the hub, from the ingress; empty without an ingress host. */}}
{{- define "cs3hub.publicUrl" -}}
{{- if and .Values.ingress.enabled .Values.ingress.host }}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.host }}
{{- end }}
{{- end }}

{{/*
Where the OAuth client secret comes from: a dict with "name" and "key", or empty when none
is given (the hub then stops at start with a message naming sso.clientSecret).
*/}}
{{- define "cs3hub.clientSecretRef" -}}
{{- if .Values.sso.existingSecret.name }}
{{- dict "name" .Values.sso.existingSecret.name "key" .Values.sso.existingSecret.key | toJson }}
{{- else if .Values.sso.clientSecret }}
{{- dict "name" (include "cs3hub.secret.name" .) "key" "sso-client-secret" | toJson }}
{{- else if .Values.existingSecret }}
{{- dict "name" .Values.existingSecret "key" "sso-client-secret" | toJson }}
{{- else }}
{{- dict | toJson }}
{{- end }}
{{- end }}

{{/* The chart Secret's key of a service's generated API token. */}}
{{- define "cs3hub.serviceTokenKey" -}}hub.services.{{ . }}.apiToken{{- end }}

{{/* hub.services, plus the scrape service `metrics` with metrics.enabled. */}}
{{- define "cs3hub.services" -}}
{{- $services := deepCopy .Values.hub.services }}
{{- if and .Values.metrics.enabled (not (hasKey $services "metrics")) }}
{{- $_ := set $services "metrics" dict }}
{{- end }}
{{- toJson $services }}
{{- end }}

{{/* Services without an apiToken of their own: the chart generates one. */}}
{{- define "cs3hub.generatedServiceTokens" -}}
{{- $names := list }}
{{- range $name, $service := include "cs3hub.services" . | fromJson }}
{{- if not $service.apiToken }}{{ $names = append $names $name }}{{ end }}
{{- end }}
{{- toJson $names }}
{{- end }}

{{/* The hub's path prefix, "/" or "/jupyter/". */}}
{{- define "cs3hub.baseUrl" -}}
{{- $url := .Values.hub.baseUrl | default "/" }}
{{- if not (and (hasPrefix "/" $url) (hasSuffix "/" $url)) }}
{{- fail (printf "hub.baseUrl %q must start and end with a slash" $url) }}
{{- end }}
{{- $url }}
{{- end }}

{{- /* The hub container's environment and mounts, shared by the upgrade-db init container. */}}
{{- define "cs3hub.hub.env" -}}
- name: CS3HUB_VALUES
  value: {{ include "cs3hub.hub.secretDir" . }}/values.yaml
- name: PYTHONUNBUFFERED
  value: "1"
- name: JPY_COOKIE_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "cs3hub.hubSecrets.name" . }}
      key: cookie-secret
- name: JUPYTERHUB_CRYPT_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "cs3hub.hubSecrets.name" . }}
      key: crypt-key
- name: CONFIGPROXY_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "cs3hub.hubSecrets.name" . }}
      key: proxy-token
{{- range $name, $value := .Values.hub.extraEnv }}
- name: {{ $name }}
  {{- if kindIs "map" $value }}
  {{- toYaml $value | nindent 2 }}
  {{- else }}
  value: {{ $value | toString | quote }}
  {{- end }}
{{- end }}
{{- with .Values.hub.db.password.name }}
{{- /* The hub puts it into the database URL itself: it is never part of its values. */}}
- name: CS3HUB_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.hub.db.password.key }}
{{- end }}
{{- end }}

{{- define "cs3hub.hub.volumeMounts" -}}
- name: config
  mountPath: {{ include "cs3hub.hub.configDir" . }}
  readOnly: true
- name: secret
  mountPath: {{ include "cs3hub.hub.secretDir" . }}
  readOnly: true
- name: data
  mountPath: {{ include "cs3hub.hub.dataDir" . }}
- name: tmp
  mountPath: /tmp
{{- range $name, $file := .Values.hub.extraFiles }}
- name: files
  mountPath: {{ $file.mountPath }}
  subPath: {{ $name }}
  readOnly: true
{{- end }}
{{- with .Values.hub.extraVolumeMounts }}
{{- toYaml . | nindent 0 }}
{{- end }}
{{- end }}

{{/* Paths inside the hub container. */}}
{{- define "cs3hub.hub.secretDir" -}}/usr/local/etc/jupyterhub/secret{{- end }}
{{- define "cs3hub.hub.configDir" -}}/usr/local/etc/jupyterhub/config{{- end }}
{{- define "cs3hub.hub.dataDir" -}}/srv/jupyterhub{{- end }}

{{/*
The values tree the hub reads (hub_config.values.get_value), mounted from the chart's Secret
as values.yaml: the chart's values, minus secrets that reach the hub as files, plus what only
the chart knows (in-cluster URLs, the spawner, resolved image tags).
*/}}
{{- define "cs3hub.hubValues" -}}
{{- $v := deepCopy .Values }}
{{- $sso := $v.sso }}
{{- $_ := unset $sso "clientSecret" }}
{{- $_ = unset $sso "existingSecret" }}
{{- /* Missing instead of empty: the hub then names the setting it needs at start. */}}
{{- range $key := list "issuer" "clientId" }}
{{- if not (get $sso $key) }}{{ $_ = unset $sso $key }}{{ end }}
{{- end }}
{{- if fromJson (include "cs3hub.clientSecretRef" .) }}
{{- $_ = set $sso "clientSecretFile" (printf "%s/sso-client-secret" (include "cs3hub.hub.secretDir" .)) }}
{{- end }}
{{- $public := include "cs3hub.publicUrl" . }}
{{- if and (not $sso.callbackUrl) $public }}
{{- $_ = set $sso "callbackUrl" (printf "%s%shub/oauth_callback" $public (include "cs3hub.baseUrl" .)) }}
{{- end }}
{{- if and (not $sso.postLogoutRedirectUrl) $public }}
{{- $_ = set $sso "postLogoutRedirectUrl" (printf "%s%shub/login" $public (include "cs3hub.baseUrl" .)) }}
{{- end }}
{{- $dbUrl := .Values.hub.db.url }}
{{- if eq .Values.hub.db.type "sqlite-pvc" }}
{{- $dbUrl = printf "sqlite:///%s/jupyterhub.sqlite" (include "cs3hub.hub.dataDir" .) }}
{{- else if eq .Values.hub.db.type "sqlite-memory" }}
{{- $dbUrl = "sqlite://" }}
{{- end }}
{{- /* Service tokens the chart generates reach the hub as files, like the client secret. */}}
{{- $_ = set $v.hub "services" (include "cs3hub.services" . | fromJson) }}
{{- range $name, $service := $v.hub.services }}
{{- if not $service.apiToken }}
{{- $_ = set $service "apiTokenFile" (printf "%s/%s" (include "cs3hub.hub.secretDir" $) (include "cs3hub.serviceTokenKey" $name)) }}
{{- end }}
{{- end }}
{{- /* The hub mounts its extra files; their contents need not be in its values too. */}}
{{- $_ = unset $v.hub "extraFiles" }}
{{- $_ = mergeOverwrite $v.hub (dict
    "bindUrl" "http://:8000"
    "hubBindUrl" "http://:8081"
    "hubConnectUrl" (printf "http://%s:8081" (include "cs3hub.hub.name" .))
    "dbUrl" $dbUrl
    "cookieSecretFile" (printf "%s/jupyterhub_cookie_secret" (include "cs3hub.hub.dataDir" .))
) }}
{{- $_ = mergeOverwrite $v.proxy (dict
    "apiUrl" (printf "http://%s:8001" (include "cs3hub.proxyApi.name" .))
    "manage" false
) }}
{{- range $component := list "singleuser" "tokenRefresher" }}
{{- $image := get $v $component | dig "image" dict }}
{{- $_ = set $image "tag" ($image.tag | default $.Chart.AppVersion | toString) }}
{{- end }}
{{- $_ = set $v "spawner" (dict
    "kind" "kubernetes"
    "namespace" .Release.Namespace
    "componentLabel" (include "cs3hub.singleuser.component" .)
    "commonLabels" (include "cs3hub.selectorLabels" . | fromYaml)
    "imagePullSecrets" .Values.imagePullSecrets
) }}
{{- toYaml $v }}
{{- end }}

{{/*
One egress rule to a destination of networkPolicy ({cidrs, ports}). 0.0.0.0/0 leaves out the
cloud metadata address, which hands out node credentials on most clouds.
*/}}
{{- define "cs3hub.egressRule" -}}
- to:
    {{- range .cidrs }}
    - ipBlock:
        cidr: {{ . }}
        {{- if eq . "0.0.0.0/0" }}
        except: [169.254.169.254/32]
        {{- end }}
    {{- end }}
  ports:
    {{- range .ports }}
    - port: {{ .port }}
      protocol: {{ .protocol | default "TCP" }}
    {{- end }}
{{- end }}

{{/* DNS to any resolver (cluster DNS runs in kube-system, node-local caches on the node). */}}
{{- define "cs3hub.egressDns" -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}
