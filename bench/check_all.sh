#!/usr/bin/env bash
# Run every benchmark with --check and summarise which goals are met. Slow (an hour or more on 2 cores) and not
# part of CI: run it by hand to see every goal at once. Usage: bench/check_all.sh [OUT_DIR] [NAME ...]
# Each benchmark's JSON goes to OUT_DIR/NAME.json and its goal lines to OUT_DIR/NAME.check; exit 1 if any missed.
set -u
here="$(cd "$(dirname "$0")/.." && pwd)"
lab="${LORA_LAB:-$here/.venv/bin/lora-lab}"
out="${1:-$(mktemp -d -t lora-lab-bench.XXXXXX)}"
shift $(( $# > 0 ? 1 : 0 ))
mkdir -p "$out"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  mapfile -t names < <("$here/.venv/bin/python" -c 'from comfyui_lora_lab.bench import BENCHMARKS; print("\n".join(sorted(BENCHMARKS)))')
fi
failed=()
for name in "${names[@]}"; do
  echo "== $name" >&2
  start=$(date +%s)
  "$lab" bench "$name" --json --check >"$out/$name.json" 2>"$out/$name.check"
  code=$?
  grep -E '^( *met|MISSED)|goals met|no goals stated' "$out/$name.check" >&2 || tail -n 5 "$out/$name.check" >&2
  echo "   exit $code after $(( $(date +%s) - start )) s" >&2
  case $code in
    0|2) ;;
    *) failed+=("$name") ;;
  esac
done
echo "results in $out" >&2
if [ ${#failed[@]} -gt 0 ]; then
  echo "benchmarks with a missed goal or an error: ${failed[*]}" >&2
  exit 1
fi
echo "no benchmark missed a stated goal (those without GOALS say so above)" >&2
