// Package deploy holds no code. Its tests check what deploy/ ships — the
// Dockerfile, the Helm chart, the IAM policies and the Terraform module —
// without a Docker engine, a Kubernetes cluster or an AWS account; the
// chart is rendered by the helm binary that make test-deps installs.
package deploy
