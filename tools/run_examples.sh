#!/usr/bin/env bash
# Builds the examples (Release, build/release), runs each one so you can see
# what it prints, then checks their output with `ctest -L example`.
#
# Needs: cmake >= 3.21 and a C++20 compiler (g++ >= 12 or clang++ >= 14).
# CXX=clang++ tools/run_examples.sh picks the compiler.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -z "${CMAKE_GENERATOR:-}" ]] && command -v ninja >/dev/null; then
    export CMAKE_GENERATOR=Ninja
fi

cmake --preset release
cmake --build --preset release

manifest=build/release/unblock_examples-Release.tsv
ran=0
if [[ -f "$manifest" ]]; then
    while IFS=$'\t' read -r name executable args_rest; do
        [[ -n "$name" ]] || continue
        args=()
        if [[ -n "${args_rest:-}" ]]; then
            IFS=$'\t' read -r -a args <<<"$args_rest"
        fi
        printf '\n==== example: %s %s\n' "$name" "${args[*]:-}"
        start=$SECONDS
        "$executable" "${args[@]}"
        printf -- '---- %s finished in %d s\n' "$name" $((SECONDS - start))
        ran=$((ran + 1))
    done <"$manifest"
fi
if ((ran == 0)); then
    echo "No examples are registered yet (examples/CMakeLists.txt)."
fi

printf '\n==== checking the examples output (ctest -L example)\n'
ctest --preset release
