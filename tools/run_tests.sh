#!/usr/bin/env bash
# The unblock test command (README "Quick start" and CI: .ci/run).
#
# Builds and runs the whole suite in each configuration of CMakePresets.json,
# each in build/<config>:
#   gcc    g++ Debug
#   clang  clang++ Debug
#   tsan   clang++, ThreadSanitizer
#   asan   g++, AddressSanitizer + UndefinedBehaviorSanitizer
# then checks formatting (tools/check_format.sh) if clang-format is present.
#
#   tools/run_tests.sh                       all four configs
#   UNBLOCK_CONFIGS="gcc tsan" tools/run_tests.sh   a subset
#   tools/run_tests.sh --clean               delete build/<config> first
#
# Needs: cmake >= 3.21, g++ and/or clang++ (C++20), Catch2 v2 (installed with
# apt-get if missing; with CI=true also libclang-rt-dev for the fuzz targets,
# libsqlite3-dev for the SQLite example, libboost-dev, libuv1-dev and
# pkg-config for the guest-mode tests, and libopenmpi-dev openmpi-bin for the
# MPI executor's tests). A missing compiler skips its
# configs, except with CI=true, where both compilers are required. Exits
# non-zero on any failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

configs=${UNBLOCK_CONFIGS:-"gcc clang tsan asan"}
clean=0
for arg in "$@"; do
    case "$arg" in
        --clean) clean=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "run_tests.sh: unknown argument '$arg' (try --help)" >&2
            exit 2
            ;;
    esac
done

ci=false
if [[ "${CI:-}" == "true" || "${CI:-}" == "1" ]]; then
    ci=true
fi

log() { printf '\n==== %s\n' "$*"; }

# --- prerequisites -------------------------------------------------------------
if ! command -v cmake >/dev/null; then
    echo "run_tests.sh: cmake is required (apt-get install cmake)" >&2
    exit 1
fi
if [[ -z "${CMAKE_GENERATOR:-}" ]] && command -v ninja >/dev/null; then
    export CMAKE_GENERATOR=Ninja
fi

have_catch2() {
    local cxx
    for cxx in g++ clang++ c++; do
        if command -v "$cxx" >/dev/null; then
            echo '#include <catch2/catch.hpp>' | "$cxx" -x c++ -std=c++20 -E - >/dev/null 2>&1 && return 0
        fi
    done
    [[ -f /usr/include/catch2/catch.hpp ]]
}
# Installs Debian packages with apt-get (through sudo when not root).
apt_install() {
    local sudo_cmd=()
    if [[ "$(id -u)" != 0 ]]; then
        if ! command -v sudo >/dev/null; then
            echo "run_tests.sh: not root and no sudo; install them yourself: apt-get install $*" >&2
            return 1
        fi
        sudo_cmd=(sudo)
    fi
    if ! command -v apt-get >/dev/null; then
        echo "run_tests.sh: no apt-get; install the equivalent of: $*" >&2
        return 1
    fi
    "${sudo_cmd[@]}" apt-get update
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}
if ! have_catch2; then
    log "Catch2 v2 (catch2/catch.hpp) is missing: installing the Debian package 'catch2'"
    apt_install catch2 || exit 1
fi
# CI runs the optional parts too: the fuzz targets (clang's libFuzzer
# runtime), the SQLite example, the guest-mode tests inside Boost.Asio and
# libuv, and the MPI executor under mpirun. Elsewhere they are skipped when
# missing.
if $ci && command -v dpkg >/dev/null; then
    missing=()
    for package in libclang-rt-dev libsqlite3-dev libboost-dev libuv1-dev pkg-config \
        libopenmpi-dev openmpi-bin; do
        # Any installed Boost with Asio will do (libboost1.81-dev replaces libboost-dev).
        if [[ "$package" == libboost-dev && -f /usr/include/boost/asio.hpp ]]; then
            continue
        fi
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    if ((${#missing[@]})); then
        log "CI=true: installing ${missing[*]}"
        apt_install "${missing[@]}" || exit 1
    fi
fi

# The compiler a preset uses, read from CMakePresets.json through cmake itself.
preset_compiler() {
    cmake --preset "$1" -N 2>/dev/null | sed -n 's/^ *CMAKE_CXX_COMPILER="\(.*\)"$/\1/p'
}

# --- the configs ---------------------------------------------------------------
declare -A status
declare -A seconds
declare -A failed_tests
failed=0

run_config() {
    local config=$1
    if ((clean)); then
        rm -rf "build/$config"
    fi
    log "[$config] configure"
    # Keep the generator an existing build directory was made with.
    local generator
    generator=$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "build/$config/CMakeCache.txt" 2>/dev/null || true)
    CMAKE_GENERATOR=${generator:-${CMAKE_GENERATOR:-}} cmake --preset "$config" || return 1
    log "[$config] build"
    cmake --build --preset "$config" || return 1
    log "[$config] test"
    rm -f "build/$config/Testing/Temporary/LastTestsFailed.log"
    ctest --preset "$config" || return 1
}

for config in $configs; do
    compiler=$(preset_compiler "$config" || true)
    if [[ -z "$compiler" ]]; then
        echo "run_tests.sh: '$config' is not a configure preset in CMakePresets.json" >&2
        status[$config]="FAILED (unknown config)"
        failed=1
        continue
    fi
    if ! command -v "$compiler" >/dev/null; then
        if $ci; then
            echo "run_tests.sh: CI=true and $compiler (needed by '$config') is not installed" >&2
            status[$config]="FAILED ($compiler missing)"
            failed=1
        else
            echo "run_tests.sh: skipping '$config': $compiler is not installed"
            status[$config]="skipped ($compiler missing)"
        fi
        continue
    fi
    start=$SECONDS
    if run_config "$config"; then
        status[$config]="passed"
    else
        status[$config]="FAILED"
        failed=1
        # Name the failed tests in the summary: the log's tail is what CI shows.
        failed_log="build/$config/Testing/Temporary/LastTestsFailed.log"
        if [[ -s "$failed_log" ]]; then
            failed_tests[$config]=$(sed 's/^[0-9]*:/      /' "$failed_log")
            log "[$config] the failed tests again, alone (a pass here means a flaky test)"
            ctest --preset "$config" --rerun-failed --output-on-failure 2>&1 | tail -n 80 || true
        fi
    fi
    seconds[$config]=$((SECONDS - start))
done

# --- formatting ------------------------------------------------------------------
format_status="skipped (clang-format not installed)"
if command -v clang-format >/dev/null; then
    log "format check"
    if tools/check_format.sh; then
        format_status="passed"
    else
        format_status="FAILED (run tools/check_format.sh --fix)"
        failed=1
    fi
fi

# --- summary ---------------------------------------------------------------------
log "summary"
for config in $configs; do
    time_note=""
    if [[ -n "${seconds[$config]:-}" ]]; then
        time_note=" in ${seconds[$config]} s"
    fi
    printf '  %-8s %s%s\n' "$config" "${status[$config]:-not run}" "$time_note"
    if [[ -n "${failed_tests[$config]:-}" ]]; then
        printf '%s\n' "${failed_tests[$config]}"
    fi
done
printf '  %-8s %s\n' "format" "$format_status"

exit "$failed"
