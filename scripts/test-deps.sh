#!/usr/bin/env bash
# Installs what the tests start as real processes (DESIGN §5): redis-server
# from Debian's packages and the moto AWS emulator. Each is installed only
# when missing, so this is quick on a prepared machine.
set -euo pipefail

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

if ! command -v moto_server >/dev/null; then
	echo "installing moto (moto_server)..."
	python3 -m pip install --quiet 'moto[server]' || {
		echo "moto_server is missing and pip could not install 'moto[server]'" >&2
		exit 1
	}
fi

echo "test dependencies: $(redis-server --version | cut -d' ' -f1-3), moto_server at $(command -v moto_server)"
