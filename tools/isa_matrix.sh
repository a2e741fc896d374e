#!/usr/bin/env bash
# Runs every test that uses the real model (pytest -m slow) under each CTranslate2 kernel
# (CT2_FORCE_CPU_ISA) and each oneDNN limit (ONEDNN_MAX_CPU_ISA) this CPU supports: Whisper's
# words change with them, and the tests must hold on any CPU. Prints the CPU's flags and one
# line per setting; exit 0 only when every setting passed. Usage:
#   bash tools/isa_matrix.sh [PYTEST ARGS...]      (e.g. -k cer for one test)
# Each setting is a full `pytest -m slow` run (~10 min on 2 cores).
set -uo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { [[ $flags == *" $1 "* ]]; }
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "flags: $(tr ' ' '\n' <<<"$flags" | grep -E '^(avx|avx2|fma|avx512f|avx512bw|avx512vl|avx512_vnni|avx512_bf16|amx_tile)$' | tr '\n' ' ')"
settings=("CT2_FORCE_CPU_ISA=GENERIC")
has avx && settings+=("CT2_FORCE_CPU_ISA=AVX")
has avx2 && settings+=("CT2_FORCE_CPU_ISA=AVX2")
has avx512f && settings+=("CT2_FORCE_CPU_ISA=AVX512")
has avx2 && settings+=("ONEDNN_MAX_CPU_ISA=AVX2")
has avx512f && has avx512bw && has avx512vl && settings+=("ONEDNN_MAX_CPU_ISA=AVX512_CORE")
has avx512_vnni && settings+=("ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI")
# ISA_SETTINGS="CT2_FORCE_CPU_ISA=AVX ..." runs only those (e.g. to finish a matrix in parts)
[ -n "${ISA_SETTINGS:-}" ] && read -r -a settings <<<"$ISA_SETTINGS"
rc=0
for s in "${settings[@]}"; do
  start=$(date +%s)
  out=$(env "$s" "$py" -m pytest -q -m slow -p no:cacheprovider "$@" 2>&1)
  code=$?
  summary=$(grep -E '^(=+ )?[0-9]+ (passed|failed)' <<<"$out" | tail -1)
  printf '%-32s exit %d  %s  (%ds)\n' "$s" "$code" "$summary" "$(( $(date +%s) - start ))"
  if [ "$code" -ne 0 ]; then rc=1; grep -E '^(FAILED|ERROR)' <<<"$out" | sed 's/^/    /'; fi
done
exit $rc
