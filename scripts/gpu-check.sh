#!/usr/bin/env bash
# The kernels on a bare CUDA box (docs/gpu-check.md):
#
#   scripts/gpu-check.sh prepare DIR   (here, with the apt mirror) puts into DIR what such a box
#       lacks: the kernels' part of the source tree and the Debian packages of GoogleTest,
#       Google Benchmark and OpenBLAS (with its Fortran runtime), under 64 MiB.
#   scripts/gpu-check.sh run DIR [--quick]   (on the box: a C++ compiler, CMake, the CUDA
#       toolkit with cuBLAS and NCCL, python3; no root, no network) unpacks them with dpkg -x,
#       configures MURMUR_COMPONENTS=kernels for the box's own GPU, builds with all cores, runs
#       `ctest -L gpu` and bench/aggregate's CUDA rows, and writes DIR/report.txt. --quick
#       builds one test binary and runs its GPU tests only (no benchmark).
#   scripts/gpu-check.sh selftest DIR   prepare into a fresh DIR, then run --quick (ctest's
#       gpucheck test).
#
# Reads MURMUR_JOBS (default nproc), MURMUR_GPU_ARCH (CUDA architectures when no GPU answers
# nvidia-smi; default 90), MURMUR_DEB_CACHE (where prepare keeps downloaded .debs; default
# ~/.cache/murmur/gpu-check-debs), CMAKE_CUDA_COMPILER (default: nvcc on PATH, else
# /usr/local/cuda/bin/nvcc). Exit status: 0 when everything that ran passed (GPU tests skipped
# for want of a device count as run), 1 otherwise.
set -euo pipefail

usage() {
  echo "usage: $0 prepare DIR | run DIR [--quick] | selftest DIR" >&2
  exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)

# The Debian packages a bare CUDA box lacks (bookworm, amd64; the libraries need glibc >= 2.34).
DEBS=(libgtest-dev libbenchmark-dev libbenchmark1debian libopenblas0-pthread
      libopenblas-pthread-dev libgfortran5 libquadmath0)
# What of the source tree the kernels-only configuration reads.
SOURCES=(CMakeLists.txt .clang-format cmake kernels testing tests/CMakeLists.txt tests/kernels
         bench/CMakeLists.txt bench/common.cpp bench/common.hpp bench/bandwidth.cpp bench/aggregate.cpp
         bench/aggregate_cuda.cpp scripts/gpu-check.sh scripts/env.sh docs/gpu-check.md)
LIMIT_BYTES=$((64 << 20))

prepare() {
  local cache=${MURMUR_DEB_CACHE:-$HOME/.cache/murmur/gpu-check-debs}
  rm -rf "$dir/src" "$dir/debs"
  mkdir -p "$dir/src" "$dir/debs" "$cache"
  local f
  for f in "${SOURCES[@]}"; do
    [ -e "$here/$f" ] || { echo "prepare: $here/$f is missing" >&2; exit 1; }
  done
  (cd "$here" && tar -cf - "${SOURCES[@]}") | tar -xf - -C "$dir/src"
  # The candidate version of each package (the installed one on an up-to-date machine),
  # downloaded once into the cache.
  local pkg version file
  for pkg in "${DEBS[@]}"; do
    version=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
    if [ -z "$version" ] || [ "$version" = "(none)" ]; then
      echo "prepare: apt knows no $pkg (run apt-get update)" >&2
      exit 1
    fi
    file=$(ls "$cache/${pkg}_${version//:/%3a}_"*.deb 2>/dev/null | head -1 || true)
    if [ -z "$file" ]; then
      (cd "$cache" && apt-get download -q "$pkg=$version" > "$cache/apt.log" 2>&1) ||
        { cat "$cache/apt.log" >&2; echo "prepare: apt-get download $pkg failed (needs the Debian mirror)" >&2; exit 1; }
      file=$(ls "$cache/${pkg}_${version//:/%3a}_"*.deb | head -1)
    fi
    cp "$file" "$dir/debs/"
  done
  local bytes
  bytes=$(du -sb "$dir/src" "$dir/debs" | awk '{s += $1} END {print s}')
  {
    echo "prepared $(date -u +%FT%TZ) from $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "size: $bytes bytes (limit $LIMIT_BYTES)"
    (cd "$dir/debs" && ls -1)
  } > "$dir/MANIFEST"
  if [ "$bytes" -gt "$LIMIT_BYTES" ]; then
    echo "prepare: $dir holds $bytes bytes, over the 64 MiB limit" >&2
    exit 1
  fi
  echo "prepare: $dir ready ($((bytes / 1024)) KiB); on the box: bash $dir/src/scripts/gpu-check.sh run $dir"
}

# Each resolved library of a binary with where it comes from: prepared (under DIR), cuda (the
# toolkit's or the driver's libraries), runtime (the C/C++ runtime every binary links), or
# FOREIGN (anything else: a package the box was not supposed to need).
ldd_check() {
  local binary=$1 cuda_root=$2 line name path origin bad=0
  while read -r line; do
    case "$line" in
      *"=> not found"*) echo "  NOT FOUND ${line%% *}"; bad=1; continue ;;
      *"=>"*) name=${line%% =>*}; path=${line#*=> }; path=${path%% (*} ;;
      *) continue ;;  # linux-vdso and the loader itself
    esac
    if [[ $path == "$dir"/* ]]; then origin=prepared
    elif [[ $path == "$cuda_root"/* || $name =~ ^lib(cudart|cublas|cublasLt|nccl|cuda)\. ]]; then
      origin=cuda
    elif [[ $name =~ ^(libc|libm|libstdc\+\+|libgcc_s|libpthread|libdl|librt|ld-linux-x86-64)\.so ]]; then
      origin=runtime
    else origin=FOREIGN; bad=1
    fi
    printf '  %-9s %-28s %s\n' "$origin" "$name" "$(readlink -f "$path")"
  done < <(ldd "$binary")
  return $bad
}

run() {
  local quick=0
  [ "${1:-}" = "--quick" ] && quick=1
  local start=$SECONDS status=0
  local deps=$dir/deps build=$dir/build out=$dir/out
  [ -d "$dir/src" ] && [ -d "$dir/debs" ] || { echo "run: $dir is not prepared" >&2; exit 1; }
  command -v python3 >/dev/null || { echo "run: python3 is needed for the report" >&2; exit 1; }
  rm -rf "$deps" "$out"
  mkdir -p "$deps" "$out"
  local deb
  for deb in "$dir"/debs/*.deb; do
    if command -v dpkg >/dev/null; then dpkg -x "$deb" "$deps"
    else (cd "$out" && ar x "$deb" && tar -xf data.tar.* -C "$deps" && rm -f data.tar.* control.tar.* debian-binary)
    fi
  done
  local arch_lib=$deps/usr/lib/x86_64-linux-gnu
  # The prepared libraries first, for the build's test discovery, the tests and ldd alike
  # (libopenblas finds its libgfortran this way too).
  export LD_LIBRARY_PATH=$arch_lib/openblas-pthread:$arch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  [ -r "$dir/src/scripts/env.sh" ] && source "$dir/src/scripts/env.sh"  # OPENBLAS_CORETYPE

  local nvcc=${CMAKE_CUDA_COMPILER:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
  [ -x "$nvcc" ] || { echo "run: no nvcc (set CMAKE_CUDA_COMPILER)" >&2; exit 1; }
  local cuda_root
  cuda_root=$(dirname "$(dirname "$(readlink -f "$nvcc")")")
  local smi="nvidia-smi: not found" arch=${MURMUR_GPU_ARCH:-90} arch_from="no GPU answered: MURMUR_GPU_ARCH or 90"
  if command -v nvidia-smi >/dev/null; then
    if smi=$(nvidia-smi --query-gpu=index,name,driver_version,memory.total,compute_cap \
               --format=csv,noheader 2>&1) && [ -n "$smi" ]; then
      arch=$(echo "$smi" | head -1 | awk -F', ' '{print $NF}' | tr -d .)
      arch_from="GPU 0's compute capability"
    else
      smi="nvidia-smi: ${smi//$'\n'/ }"
    fi
  fi
  local jobs=${MURMUR_JOBS:-$(nproc)} generator="Unix Makefiles"
  command -v ninja >/dev/null && generator=Ninja
  export CCACHE_BASEDIR=$dir  # ccache hits across prepared directories

  # The project's other packages are never looked for with MURMUR_COMPONENTS=kernels; CMake is
  # also told not to find them, so a find_package slipping into the kernels' path fails here.
  local hidden=() p
  for p in Torch ZLIB CURL SQLite3 nlohmann_json Protobuf OpenSSL tomlplusplus spdlog CLI11 PkgConfig; do
    hidden+=("-DCMAKE_DISABLE_FIND_PACKAGE_$p=ON")
  done
  local t0=$SECONDS
  cmake -S "$dir/src" -B "$build" -G "$generator" -DCMAKE_BUILD_TYPE=Release \
    -DMURMUR_COMPONENTS=kernels -DMURMUR_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" \
    -DCMAKE_CUDA_ARCHITECTURES="$arch" -DCMAKE_PREFIX_PATH="$deps/usr" \
    -DCMAKE_LIBRARY_PATH="$arch_lib/openblas-pthread" \
    -DGTest_DIR="$arch_lib/cmake/GTest" -Dbenchmark_DIR="$arch_lib/cmake/benchmark" \
    "${hidden[@]}" > "$out/configure.log" 2>&1 ||
    { tail -30 "$out/configure.log" >&2; echo "run: configure failed ($out/configure.log)" >&2; exit 1; }
  local configure_s=$((SECONDS - t0))
  t0=$SECONDS
  local targets=() probe=$build/tests/kernel_parity
  if [ $quick = 1 ]; then targets=(--target kernel_parity); fi
  cmake --build "$build" -j "$jobs" "${targets[@]}" > "$out/build.log" 2>&1 ||
    { tail -40 "$out/build.log" >&2; echo "run: build failed ($out/build.log)" >&2; exit 1; }
  local build_s=$((SECONDS - t0))

  ldd_check "$probe" "$cuda_root" > "$out/ldd.txt" || status=1
  [ $quick = 1 ] || ldd_check "$build/bench/aggregate" "$cuda_root" > "$out/ldd-bench.txt" || status=1

  t0=$SECONDS
  local ctest_args=(--test-dir "$build" -L gpu -j "$jobs" --timeout 600 --output-junit "$out/gpu-junit.xml")
  [ $quick = 1 ] && ctest_args+=(-R 'GpuVsCpu.*/masks_')
  ctest "${ctest_args[@]}" > "$out/ctest.log" 2>&1 || status=1
  local ctest_s=$((SECONDS - t0))
  local bench_s=0
  if [ $quick = 0 ]; then
    t0=$SECONDS
    "$build/bench/aggregate" --benchmark_filter='^BM_Cuda' --benchmark_out="$out/aggregate.json" \
      --benchmark_out_format=json > "$out/aggregate.txt" 2>&1 || status=1
    bench_s=$((SECONDS - t0))
  fi

  python3 - "$dir" "$out" "$quick" <<EOF > "$dir/report.txt" || status=1
import json, os, re, sys, xml.etree.ElementTree as ET
d, out, quick = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
print("Murmuration GPU check%s, $(date -u +%FT%TZ) on $(hostname)" % (" (--quick)" if quick else ""))
print("nvidia-smi: " + """$smi""".replace("nvidia-smi: ", "", 1))
print("nvcc: " + """$("$nvcc" --version | tail -2 | head -1)""")
print("CUDA architectures: $arch ($arch_from); jobs $jobs; $generator")
print("times: configure ${configure_s} s, build ${build_s} s, ctest ${ctest_s} s, bench ${bench_s} s")
print("prepared: " + " ".join(sorted(os.listdir(os.path.join(d, "debs")))))
print()
for name in ("ldd.txt", "ldd-bench.txt"):
    p = os.path.join(out, name)
    if not os.path.exists(p): continue
    text = open(p).read()
    what = "$(basename "$probe")" if name == "ldd.txt" else "bench/aggregate"
    verdict = "FAIL" if ("FOREIGN" in text or "NOT FOUND" in text) else "OK"
    print(f"ldd {what}: {verdict} (only the prepared DIR, the CUDA toolkit and the C/C++ runtime)")
    print(text.rstrip())
print()
cases = []
try:
    root = ET.parse(os.path.join(out, "gpu-junit.xml")).getroot()
    for tc in root.iter("testcase"):
        status = tc.get("status", "")
        text = (tc.findtext("system-out") or "")
        skipped = tc.find("skipped") is not None or status == "notrun" or "[  SKIPPED ]" in text
        failed = tc.find("failure") is not None or status == "fail"
        reason = ""
        if skipped and not failed:
            m = re.search(r"Skipped\n(.*?)\n\s*\n?\[  SKIPPED \]", text, re.S)
            reason = " ".join(m.group(1).split()) if m else "see out/ctest.log"
            verdict = "SKIP"
        elif failed:
            m = re.findall(r"^.*(?:Failure|error).*$\n?.*", text, re.M)
            reason = " | ".join(" ".join(x.split()) for x in m[:2])[:300]
            verdict = "FAIL"
        else:
            verdict = "PASS"
        cases.append((verdict, tc.get("name"), reason))
except (OSError, ET.ParseError) as e:
    print(f"GPU tests: no ctest results ({e}); see out/ctest.log")
n = {v: sum(1 for c in cases if c[0] == v) for v in ("PASS", "FAIL", "SKIP")}
print(f"GPU tests (ctest -L gpu): {len(cases)} cases, {n['PASS']} passed, {n['FAIL']} failed, {n['SKIP']} skipped")
for verdict, name, reason in cases:
    print(f"  {verdict}  {name}" + (f"  -- {reason}" if reason else ""))
print()
bench = os.path.join(out, "aggregate.json")
if quick:
    print("benchmarks: not run (--quick)")
elif os.path.exists(bench):
    rows = json.load(open(bench)).get("benchmarks", [])
    d2d = next((r for r in rows if r["name"].startswith("BM_CudaDeviceCopy") and not r.get("error_occurred")), None)
    def gbps(r):
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[r.get("time_unit", "ns")]
        return r["bytes_per_iter"] / (r["real_time"] * scale) / 1e9
    if d2d:
        print(f"benchmarks (bench/aggregate, CUDA rows): device-to-device copy {gbps(d2d):.1f} GB/s "
              "measured in this run; x_d2d = GB/s over it, x_h2d = over the pinned host-to-device copy")
    else:
        print("benchmarks (bench/aggregate, CUDA rows): no device-to-device figure (no device)")
    print(f"  {'benchmark':<58} {'ms':>9} {'GB/s':>9} {'x_d2d':>7} {'x_h2d':>7}")
    for r in rows:
        if r.get("error_occurred"):
            print(f"  {r['name']:<58} SKIPPED: {r.get('error_message', '')}")
        else:
            print(f"  {r['name']:<58} {r['real_time']:9.3f} {gbps(r):9.1f} {r.get('x_d2d', 0):7.3f} {r.get('x_h2d', 0):7.3f}")
else:
    print("benchmarks: bench/aggregate wrote no results; see out/aggregate.txt")
EOF
  echo "total: $((SECONDS - start)) s; logs in $out" >> "$dir/report.txt"
  cat "$dir/report.txt"
  return $status
}

case "$cmd" in
  prepare) prepare ;;
  run) shift 2; run "$@" ;;
  selftest)
    rm -rf "$dir"
    mkdir -p "$dir"
    prepare
    run --quick
    ;;
  *) usage ;;
esac
