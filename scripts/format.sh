#!/usr/bin/env bash
# clang-format over every C++ and CUDA source the repository tracks (.clang-format at the root:
# Google style, 100 columns).
#   scripts/format.sh check   lists the files that do not conform; exits 1 if any (scripts/test.sh)
#   scripts/format.sh fix     rewrites them in place
# A table laid out by hand sits between `// clang-format off` and `// clang-format on`.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-check}"
command -v clang-format >/dev/null || { echo "[format] clang-format is missing: run scripts/setup.sh"; exit 2; }
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' '*.cu' '*.cuh')
case "$mode" in
  fix) clang-format -i "${files[@]}" ;;
  check)
    bad=()
    for f in "${files[@]}"; do
      clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
    done
    if [ "${#bad[@]}" -gt 0 ]; then
      printf '[format] not clang-format clean: %s\n' "${bad[@]}"
      echo "[format] ${#bad[@]} of ${#files[@]} files; fix with: bash scripts/format.sh fix"
      exit 1
    fi
    echo "[format] ${#files[@]} files conform to .clang-format ($(clang-format --version | head -1))"
    ;;
  *) echo "usage: scripts/format.sh check|fix"; exit 2 ;;
esac
