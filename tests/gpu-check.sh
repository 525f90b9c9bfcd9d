#!/usr/bin/env bash
# The one-command GPU check: builds in release with the GPU backend, names the adapter, runs
# every golden fixture case on `--backend gpu`, runs the GPU kernel benchmark (full shapes),
# runs a built-in generation on the GPU, and ends with one summary block.
#
#   bash tests/gpu-check.sh [--allow-software] [--quick] [--time-limit SECONDS]
#
# --allow-software  also run on a software adapter (lavapipe), which is refused otherwise
# --quick           the benchmark's small shapes and a short one-step generation (a dry run)
# --time-limit S    seconds allowed for everything after the build (default 600, or 2400
#                   with --quick, as a software adapter decodes slowly); the build
#                   has its own limit (BUILD_LIMIT_S, default 1800), as its time depends on
#                   the CPU and the build cache, not on the GPU
#
# Exit status: 0 everything passed, 1 a check failed or the time ran out, 2 bad usage or no
# acceptable adapter.

set -uo pipefail

allow_software=0
quick=0
limit=
while (($# > 0)); do
    case "$1" in
        --allow-software) allow_software=1 ;;
        --quick) quick=1 ;;
        --time-limit)
            if (($# < 2)) || ! [[ "$2" =~ ^[1-9][0-9]*$ ]]; then
                echo "gpu-check: --time-limit needs a positive number of seconds, got '${2-}'" >&2
                exit 2
            fi
            limit=$2
            shift
            ;;
        -h | --help)
            sed -n '2,16s/^# \{0,1\}//p' "$0"
            exit 0
            ;;
        *)
            echo "gpu-check: unknown argument '$1' (see --help)" >&2
            exit 2
            ;;
    esac
    shift
done

if [[ -z "$limit" ]]; then
    limit=$((quick ? 2400 : 600))
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 2
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
bin="${CARGO_TARGET_DIR:-$root/target}/release/happyhorse"
failed=0

# Runs "$@" under `timeout SECONDS`, its output both shown and kept in the file LOG.
run_logged() {
    local seconds=$1 log=$2
    shift 2
    timeout --foreground "$seconds" "$@" 2>&1 | tee "$log"
    local status=${PIPESTATUS[0]}
    if ((status == 124)); then
        echo "gpu-check: TIME LIMIT: '$*' ran past ${seconds} s" | tee -a "$log"
    fi
    return "$status"
}

# Runs "$@" within what is left of the time limit (see run_logged).
step() {
    local left=$((deadline - SECONDS))
    if ((left <= 0)); then
        echo "gpu-check: TIME LIMIT: ${limit} s spent before '${*:2}'" | tee "$1"
        return 124
    fi
    run_logged "$left" "$@"
}

banner() {
    printf '\n==== %s ====\n' "$1"
}

banner "build (release, gpu)"
build_limit=${BUILD_LIMIT_S:-1800}
if ! run_logged "$build_limit" "$work/build.log" cargo build --release -p happyhorse ||
    ! run_logged "$build_limit" "$work/build.log" \
        cargo bench --no-run -p happyhorse-tensor --features gpu --bench gpu_kernels; then
    echo "gpu-check: FAILED: the build failed" >&2
    exit 1
fi
deadline=$((SECONDS + limit))

banner "adapter"
cache="$work/cache"
step "$work/info.log" "$bin" info --no-values --cache-dir "$cache"
adapter=$(sed -n 's/^gpu: adapter: //p' "$work/info.log" | head -n 1)
driver=$(sed -n 's/^driver: //p' "$work/info.log" | head -n 1)
if [[ -z "$adapter" ]]; then
    echo "gpu-check: FAILED: happyhorse info names no GPU adapter" >&2
    exit 2
fi
if grep -Eiq 'llvmpipe|lavapipe|swiftshader|warp|microsoft basic|, Cpu\)$' <<<"$adapter" &&
    ((allow_software == 0)); then
    echo "gpu-check: the adapter is a software rasteriser ($adapter); its figures say nothing about a GPU. Pass --allow-software to run anyway." >&2
    exit 2
fi

banner "fixture cases on --backend gpu"
passed_cases=()
failed_cases=()
# f32 activations with the f32 tolerances; f16 (where the adapter has SHADER_F16) with the
# cases' bf16 tolerances.
precisions=(f32)
grep -q 'SHADER_F16=true' "$work/info.log" && precisions+=(f16)
while IFS= read -r meta; do
    case_dir=$(dirname "$meta")
    for precision in "${precisions[@]}"; do
        name="${case_dir#tests/fixtures/} ($precision)"
        log="$work/parity-${case_dir//\//-}-$precision.log"
        if step "$log" "$bin" parity "$case_dir" --backend gpu --precision "$precision" \
            --cache-dir "$cache"; then
            passed_cases+=("$name")
        else
            failed_cases+=("$name")
            echo "gpu-check: FAILED: fixture case $name (above)" >&2
        fi
    done
done < <(find tests/fixtures -name meta.json | sort)
if ((${#failed_cases[@]} > 0 || ${#passed_cases[@]} == 0)); then
    failed=1
fi

banner "GPU kernel benchmark"
bench_args=()
((quick)) && bench_args=(--quick)
if ! step "$work/bench.log" cargo bench -q -p happyhorse-tensor --features gpu \
    --bench gpu_kernels -- "${bench_args[@]}"; then
    echo "gpu-check: FAILED: the GPU kernel benchmark (above)" >&2
    failed=1
fi

banner "built-in generation on --backend gpu"
gen_args=(--prompt "a horse gallops along a beach at sunset" --backend gpu
    --out "$work/clip" --cache-dir "$cache")
((quick)) && gen_args+=(--seconds 3 --steps 1 --aspect 1:1)
gen_start=$SECONDS
generation="FAILED"
if step "$work/generate.log" "$bin" generate "${gen_args[@]}"; then
    generation="ok in $((SECONDS - gen_start)) s"
    json="$work/clip/generation.json"
    for key in gpu timings_s; do
        if command -v jq >/dev/null; then
            printf '%s: ' "$key"
            jq -c --arg k "$key" '.[$k] // "absent"' "$json"
        else
            printf '%s: ' "$key"
            tr -d '\n' <"$json" | grep -o "\"$key\": *{[^}]*}" || echo "absent"
        fi
    done | tee "$work/generation-fields.log"
else
    echo "gpu-check: FAILED: the built-in generation (above)" >&2
    failed=1
fi

banner "GPU check summary"
echo "adapter:    $adapter"
echo "driver:     $driver"
echo "fixtures:   ${#passed_cases[@]} passed, ${#failed_cases[@]} failed${failed_cases[*]:+ (${failed_cases[*]})}"
echo "benchmark:"
grep -E '^bench |case\(s\) failed|TIME LIMIT' "$work/bench.log" | sed 's/^/  /'
echo "generation: $generation"
if [[ -f "$work/generation-fields.log" ]]; then
    sed 's/^/  /' "$work/generation-fields.log"
fi
echo "time:       $((SECONDS - deadline + limit)) s after the build (limit ${limit} s), $SECONDS s in all"
if ((failed)); then
    echo "result:     FAILED"
    exit 1
fi
echo "result:     PASS"
