#!/usr/bin/env bash
# The whole suite: unit tests, and the engine/browser tests against a real Docker Engine
# and a real multi-node swarm (scripts/swarm-bed.sh: three engines in network namespaces,
# built here and torn down when the tests end).
# Extra arguments go to vitest (e.g. a file filter, or reporters).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-engine.sh
bash images/demo-workspace/build-image.sh >/dev/null
npx tsc -p tsconfig.json --noEmit
bash scripts/swarm-bed.sh up >/dev/null
trap 'bash scripts/swarm-bed.sh down >/dev/null 2>&1 || echo "test.sh: swarm-bed.sh down failed" >&2' EXIT
npx vitest run "$@"
