#!/usr/bin/env bash
# The unblock benchmark command (README "Benchmarks"; docs/benchmarks.md).
#
# Builds the benchmarks in Release (preset `bench`, in build/bench), then runs
# every workload of BENCHMARKS.md for unblock and for each peer the build
# found (Boost.Asio, Python asyncio, libuv, Tokio), interleaved over 3
# rounds, prints the table with unblock's ratio to each peer and the targets,
# and rewrites the results section of docs/benchmarks.md and
# docs/benchmarks.svg. Takes about 5 minutes; keep the machine otherwise idle.
#
#   tools/run_benchmarks.sh                    the full run (writes docs/)
#   tools/run_benchmarks.sh --smoke            tiny sizes, 1 round (writes build/bench/smoke/)
#   tools/run_benchmarks.sh --install-peers    apt-get the peers first, then the full run
#   tools/run_benchmarks.sh --only W1,W2 --impls unblock,tokio --rounds 5
#                                              a subset (writes build/bench/subset/)
#
# Peers are optional; a missing one is skipped with a message at configure
# time. On Debian 12:
#   apt-get install libboost1.81-dev python3 libuv1-dev pkg-config cargo librust-tokio-dev
#   (and for W8, the MPI executor: libopenmpi-dev openmpi-bin python3-mpi4py)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

peers="libboost1.81-dev python3 libuv1-dev pkg-config cargo librust-tokio-dev libopenmpi-dev openmpi-bin python3-mpi4py"
runner_args=()
install_peers=0
smoke=0
subset=0
while (($#)); do
    case "$1" in
        --install-peers) install_peers=1 ;;
        --smoke) smoke=1 ;;
        --only | --impls | --rounds)
            [[ $# -ge 2 ]] || { echo "run_benchmarks.sh: $1 needs a value" >&2; exit 2; }
            runner_args+=("$1" "$2")
            subset=1
            shift
            ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "run_benchmarks.sh: unknown argument '$1' (try --help)" >&2
            exit 2
            ;;
    esac
    shift
done

if ((install_peers)); then
    sudo_cmd=()
    [[ "$(id -u)" == 0 ]] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update
    # shellcheck disable=SC2086 # a list of package names
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y $peers
fi

if [[ -z "${CMAKE_GENERATOR:-}" ]] && command -v ninja >/dev/null; then
    export CMAKE_GENERATOR=Ninja
fi
generator=$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' build/bench/CMakeCache.txt 2>/dev/null || true)
CMAKE_GENERATOR=${generator:-${CMAKE_GENERATOR:-}} cmake --preset bench
cmake --build --preset bench

runner=(build/bench/benchmarks/bin/run_benchmarks --manifest build/bench/benchmarks/manifest.tsv)
if ((smoke)); then
    out=build/bench/smoke
    runner_args+=(--smoke --rounds 1)
elif ((subset)); then
    out=build/bench/subset
else
    out=docs
fi
mkdir -p "$out"
exec "${runner[@]}" "${runner_args[@]}" --markdown "$out/benchmarks.md" --svg "$out/benchmarks.svg"
