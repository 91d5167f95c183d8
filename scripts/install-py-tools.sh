#!/bin/sh
# Installs the Python validators the production tests use into a private virtualenv:
#   kubernetes-validate (Kubernetes JSON schemas, strict mode), checkov (policy checks) and
#   cyclonedx-python-lib (the CycloneDX JSON schemas, to validate `cargo xtask sbom`),
#   and the `openai` SDK (pinned; the real client of tests/openai_sdk.rs).
# Idempotent: an existing venv with every tool (and the pinned SDK) is left alone. Prints the venv's bin dir.
# Usage: scripts/install-py-tools.sh   (then: PATH="$HOME/.cache/clawdbot-deploy/py/bin:$PATH")
set -eu
VENV="${CLAWDBOT_PY_VENV:-${HOME}/.cache/clawdbot-deploy/py}"
OPENAI_SDK_VERSION=3.51.0
if [ -x "$VENV/bin/kubernetes-validate" ] && [ -x "$VENV/bin/checkov" ] &&
    "$VENV/bin/python" -c 'import cyclonedx.validation.json' 2>/dev/null &&
    "$VENV/bin/python" -c "import sys, openai; sys.exit(openai.__version__ != '$OPENAI_SDK_VERSION')" 2>/dev/null; then
    echo "$VENV/bin"
    exit 0
fi
command -v python3 >/dev/null 2>&1 || { echo "error: python3 is required (apt-get install python3 python3-venv)" >&2; exit 1; }
mkdir -p "$(dirname "$VENV")"
python3 -m venv "$VENV" || { echo "error: python3 -m venv failed (apt-get install python3-venv)" >&2; exit 1; }
"$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
"$VENV/bin/python" -m pip install --quiet kubernetes-validate checkov 'cyclonedx-python-lib[json-validation]' \
    "openai==$OPENAI_SDK_VERSION" >&2
"$VENV/bin/kubernetes-validate" --version >&2
"$VENV/bin/checkov" --version >&2
echo "$VENV/bin"
