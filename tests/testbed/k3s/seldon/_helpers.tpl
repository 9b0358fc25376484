{{/* Written by the test bed (Seldon's chart keeps these beside its generated templates; they are not in the Go module). */}}
{{- define "seldon.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "seldon.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}
