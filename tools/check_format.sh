#!/usr/bin/env bash
# Checks that our C++ files (include/, tests/, examples/, benchmarks/) are
# formatted with .clang-format. Lists the files that are not and exits 1.
#
#   tools/check_format.sh         check
#   tools/check_format.sh --fix   reformat them in place
#
# Formatting differs between clang-format versions; the reference is the one
# of Debian 12 (clang-format 14). Set CLANG_FORMAT to use another binary.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

fix=0
case "${1:-}" in
    "") ;;
    --fix) fix=1 ;;
    *)
        echo "usage: tools/check_format.sh [--fix]" >&2
        exit 2
        ;;
esac

clang_format=${CLANG_FORMAT:-}
if [[ -z "$clang_format" ]]; then
    for candidate in clang-format-14 clang-format; do
        if command -v "$candidate" >/dev/null; then
            clang_format=$candidate
            break
        fi
    done
fi
if [[ -z "$clang_format" ]]; then
    echo "check_format.sh: clang-format is not installed (apt-get install clang-format)" >&2
    exit 1
fi

mapfile -t files < <(find include tests examples benchmarks \
    -type f \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' \) 2>/dev/null | sort)

if ((fix)); then
    if ((${#files[@]})); then
        "$clang_format" -i --style=file "${files[@]}"
    fi
    echo "check_format.sh: formatted ${#files[@]} files with $("$clang_format" --version)"
    exit 0
fi

unformatted=()
for file in "${files[@]}"; do
    if ! "$clang_format" --style=file --dry-run --Werror "$file" >/dev/null 2>&1; then
        unformatted+=("$file")
    fi
done

if ((${#unformatted[@]})); then
    echo "check_format.sh: these files are not formatted per .clang-format ($("$clang_format" --version)):"
    printf '  %s\n' "${unformatted[@]}"
    echo "Fix with: tools/check_format.sh --fix   (or: $clang_format -i <file>)"
    exit 1
fi
echo "check_format.sh: ${#files[@]} files formatted correctly"
