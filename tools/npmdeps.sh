#!/bin/sh
# Installs the npm packages the tests use to check tgattach's exports with independent
# decoders, into build/npm (NODE_PATH=build/npm/node_modules), once: pprof-format (pprof
# profiles), speedscope (its file-format-schema.json) and ajv (a JSON Schema validator).
# Without node or npm, or the registry, says so: the tests that need them fail.
set -e
cd "$(dirname "$0")/.."
want="pprof-format@2.3.2 speedscope@1.25.0 ajv@8.17.1"
have=1
for pkg in $want; do
	[ -f "build/npm/node_modules/${pkg%@*}/package.json" ] || have=0
done
[ $have = 1 ] && exit 0
if ! command -v npm >/dev/null 2>&1; then
	echo "tgattach: npm is missing: the export tests cannot check pprof and speedscope files" >&2
	exit 0
fi
mkdir -p build/npm
echo "tgattach: installing npm packages into build/npm: $want" >&2
npm install --silent --no-audit --no-fund --prefix build/npm $want >/dev/null ||
	echo "tgattach: npm install failed: the export tests cannot check pprof and speedscope files" >&2
