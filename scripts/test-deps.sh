#!/usr/bin/env bash
# Installs what the tests start as real processes (docs/design.md §5): redis-server
# and chromium (the HTML report's browser tests) from Debian's packages, the moto
# AWS emulator, and helm for the chart tests. Each is installed only when missing, so this is quick on a prepared
# machine.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null; then
	if [ "$(id -u)" != 0 ]; then
		echo "redis-server is missing; install it (apt-get install redis-server) or run make test as root" >&2
		exit 1
	fi
	echo "installing redis-server..."
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq redis-server >/dev/null 2>&1 || {
		apt-get update -qq >/dev/null
		apt-get install -y -qq redis-server >/dev/null
	}
	# The package starts a system-wide server; the tests start their own.
	service redis-server stop >/dev/null 2>&1 || true
fi

# The HTML report's tests load the page in a headless Chromium (chromedp).
if ! command -v chromium >/dev/null; then
	if [ "$(id -u)" != 0 ]; then
		echo "chromium is missing; install it (apt-get install chromium) or run make test as root" >&2
		exit 1
	fi
	echo "installing chromium..."
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq chromium >/dev/null 2>&1 || {
		apt-get update -qq >/dev/null
		apt-get install -y -qq chromium >/dev/null
	}
fi

if ! command -v moto_server >/dev/null; then
	echo "installing moto (moto_server)..."
	python3 -m pip install --quiet 'moto[server]' || {
		echo "moto_server is missing and pip could not install 'moto[server]'" >&2
		exit 1
	}
fi

# helm renders the chart in deploy/'s tests. It is built from source through
# the Go module proxy into bin/ (about 2-4 minutes the first time on a
# 2-core machine, about 20 s with a warm Go build cache).
helm=helm
if [ -x bin/helm ]; then
	helm=bin/helm
elif ! command -v helm >/dev/null; then
	echo "installing helm into bin/..."
	GOBIN="$PWD/bin" go install helm.sh/helm/v3/cmd/helm@v3.22.0 || {
		echo "helm is missing and go install helm.sh/helm/v3/cmd/helm@v3.22.0 failed" >&2
		exit 1
	}
	helm=bin/helm
fi

echo "test dependencies: $(redis-server --version | cut -d' ' -f1-3), $(chromium --version 2>/dev/null), moto_server at $(command -v moto_server), $helm $($helm version --short 2>/dev/null)"
