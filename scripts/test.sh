#!/usr/bin/env bash
# The whole suite: unit tests, and the engine/browser tests against a real Docker Engine.
# Extra arguments go to vitest (e.g. a file filter, or reporters).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-engine.sh
bash images/demo-workspace/build-image.sh >/dev/null
npx tsc -p tsconfig.json --noEmit
exec npx vitest run "$@"
