{{/* Fixed names: the guard is one per cluster (its webhook configuration is cluster-scoped), and
the serving certificate, the webhooks and config.yaml name the Service teardown-guard. */}}
{{- define "tg.name" -}}teardown-guard{{- end -}}

{{- define "tg.labels" -}}
app.kubernetes.io/name: teardown-guard
app.kubernetes.io/part-of: teardown-guard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tg.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* config.yaml (teardown-guard serve --config); every key: `teardown-guard serve --help`. */}}
{{- define "tg.config" -}}
listen:
  host: 0.0.0.0
  port: 8443
tls:
  certFile: /etc/teardown-guard/tls/tls.crt
  keyFile: /etc/teardown-guard/tls/tls.key
guardNamespace: {{ .Release.Namespace }}
policies:
  {{- range $name, $p := .Values.policies }}
  {{ $name }}:
    mode: {{ $p.mode }}
  {{- end }}
undecided: {{ .Values.undecided }}
liveLookup:
  timeoutMs: {{ .Values.liveLookup.timeoutMs }}
  concurrency: {{ .Values.liveLookup.concurrency }}
breakGlassAnnotation: {{ .Values.breakGlassAnnotation }}
log:
  level: {{ .Values.logLevel }}
shutdown:
  delayMs: {{ .Values.shutdown.delayMs }}
  drainTimeoutMs: {{ .Values.shutdown.drainTimeoutMs }}
{{- end -}}

{{/* The Pod spec shared by the webhook Deployment and the audit receiver ($ = root, component). */}}
{{- define "tg.podSpec" -}}
{{- $ := .root -}}
{{- if eq .component "webhook" }}
serviceAccountName: teardown-guard
automountServiceAccountToken: true
{{- else }}
{{- /* serve --audit-only reads nothing from the API server: its own ServiceAccount, no token. */}}
serviceAccountName: teardown-guard-audit
automountServiceAccountToken: false
{{- end }}
terminationGracePeriodSeconds: {{ $.Values.terminationGracePeriodSeconds }}
{{- if eq .component "webhook" }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              app.kubernetes.io/name: teardown-guard
              app.kubernetes.io/component: webhook
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        app.kubernetes.io/name: teardown-guard
        app.kubernetes.io/component: webhook
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  fsGroup: 65532
  seccompProfile:
    type: RuntimeDefault
containers:
  - name: teardown-guard
    image: {{ include "tg.image" $ }}
    imagePullPolicy: {{ $.Values.image.pullPolicy }}
    args: ["serve", "--config", "/etc/teardown-guard/config/config.yaml"{{ if ne .component "webhook" }}, "--audit-only"{{ end }}]
    env:
      - name: NODE_OPTIONS
        value: "--max-old-space-size=768 --max-semi-space-size=4"
      # glibc malloc: see manifests/base/deployment.yaml.
      - name: MALLOC_ARENA_MAX
        value: "2"
      - name: MALLOC_MMAP_THRESHOLD_
        value: "131072"
      - name: MALLOC_TRIM_THRESHOLD_
        value: "131072"
    ports:
      - name: https
        containerPort: 8443
        protocol: TCP
    livenessProbe:
      httpGet: { path: /healthz, port: https, scheme: HTTPS }
      periodSeconds: 10
      timeoutSeconds: 2
      failureThreshold: 3
    readinessProbe:
      httpGet: { path: /readyz, port: https, scheme: HTTPS }
      periodSeconds: 5
      timeoutSeconds: 2
      failureThreshold: 2
    resources:
      {{- toYaml $.Values.resources | nindent 6 }}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      runAsNonRoot: true
      capabilities:
        drop: ["ALL"]
    volumeMounts:
      - name: tls
        mountPath: /etc/teardown-guard/tls
        readOnly: true
      - name: config
        mountPath: /etc/teardown-guard/config
        readOnly: true
      - name: tmp
        mountPath: /tmp
volumes:
  - name: tls
    secret:
      secretName: teardown-guard-tls
      defaultMode: 0440
  - name: config
    configMap:
      name: teardown-guard-config
  - name: tmp
    emptyDir:
      sizeLimit: 16Mi
{{- end -}}

{{- /*
The generated certificate pair (certs.source=generated) as YAML: crt, key, ca (base64 PEM),
bundle (the caBundle) and notAfter (RFC 3339). The Secret of an earlier release is reused while
it has more than renewBeforeDays left, so every template that includes this in one render, and
every upgrade, sees the same pair. A new pair is cached in .Values for the rest of this render:
genCA is random. On renewal the bundle trusts the old CA too: the Pods serve the old certificate
until the kubelet updates their Secret volume.
*/}}
{{- define "tg.generatedTls" -}}
{{- if not (hasKey .Values.certs "_rendered") }}
{{- $ns := .Release.Namespace }}
{{- $g := .Values.certs.generated }}
{{- $prev := lookup "v1" "Secret" $ns "teardown-guard-tls" }}
{{- $notAfter := "" }}
{{- if $prev }}{{ $notAfter = index ($prev.metadata.annotations | default dict) "teardown-guard.io/certificate-not-after" | default "" }}{{ end }}
{{- $renewAt := now | dateModify (printf "+%dh" (mul (int $g.renewBeforeDays) 24)) }}
{{- if and $notAfter (index $prev.data "ca.crt") (gt (toDate "2006-01-02T15:04:05Z07:00" $notAfter | unixEpoch | atoi) ($renewAt | unixEpoch | atoi)) }}
{{- $_ := set .Values.certs "_rendered" (dict "crt" (index $prev.data "tls.crt") "key" (index $prev.data "tls.key") "ca" (index $prev.data "ca.crt") "bundle" (index $prev.data "ca.crt") "notAfter" $notAfter) }}
{{- else }}
{{- $ca := genCA "teardown-guard CA" (int $g.days) }}
{{- $names := list "teardown-guard" (printf "teardown-guard.%s" $ns) (printf "teardown-guard.%s.svc" $ns) (printf "teardown-guard.%s.svc.cluster.local" $ns) (printf "teardown-guard-audit.%s.svc" $ns) (printf "teardown-guard-audit.%s.svc.cluster.local" $ns) }}
{{- $leaf := genSignedCert (printf "teardown-guard.%s.svc" $ns) nil $names (int $g.days) $ca }}
{{- $until := now | dateModify (printf "+%dh" (mul (int $g.days) 24)) | date "2006-01-02T15:04:05Z07:00" }}
{{- $bundle := $ca.Cert }}
{{- if and $prev (index $prev.data "ca.crt") }}{{ $bundle = printf "%s\n%s" (trim $ca.Cert) (index $prev.data "ca.crt" | b64dec | trim) }}{{ end }}
{{- $_ := set .Values.certs "_rendered" (dict "crt" ($leaf.Cert | b64enc) "key" ($leaf.Key | b64enc) "ca" ($ca.Cert | b64enc) "bundle" ($bundle | b64enc) "notAfter" $until) }}
{{- end }}
{{- end }}
{{- toYaml .Values.certs._rendered }}
{{- end }}

{{- /* The webhooks' caBundle: the value given (secret) or the generated CA (generated). */}}
{{- define "tg.caBundle" -}}
{{- if eq .Values.certs.source "generated" }}{{ (include "tg.generatedTls" . | fromYaml).bundle }}{{ else }}{{ .Values.certs.caBundle }}{{ end }}
{{- end }}
