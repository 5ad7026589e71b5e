#!/usr/bin/env bash
# Installs Debian's PostgreSQL server for the retraining tests (test/support/postgres.ts starts it
# from /usr/lib/postgresql/<version>/bin), when it is missing: as root, or with sudo that needs no
# password. Anywhere else it says what to install and fails. Non-interactive (CI has no stdin).
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    echo "The retraining tests need Debian's PostgreSQL server: run 'sudo apt-get install -y --no-install-recommends postgresql' (or install PostgreSQL's server binaries under /usr/lib/postgresql/<version>/bin), then npm test again." >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null; then
  echo "The retraining tests need PostgreSQL's server binaries under /usr/lib/postgresql/<version>/bin (Debian's postgresql package); this machine has no apt-get." >&2
  exit 1
fi
echo "Installing Debian's postgresql package for the retraining tests" >&2
${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql </dev/null
