#!/usr/bin/env bash
# ctest example.blocking_server: starts examples/blocking_server on a free
# loopback port, runs examples/blocking_client against it, sends SIGINT, and
# checks that the server shut down cleanly with exit status 0.
#   blocking_server_test.sh <server> <client>
set -uo pipefail
server=$1
client=$2
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Job control on: without it bash starts background jobs with SIGINT ignored,
# and a program that finds SIGINT ignored rightly leaves it so (nohup).
set -m
"$server" 0 >"$out" &
pid=$!
port=""
for _ in $(seq 1 200); do # the server prints its port once it listens
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out")
    [[ -n "$port" ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
if [[ -z "$port" ]]; then
    echo "the server did not start listening:"; cat "$out"; kill -9 "$pid" 2>/dev/null; exit 1
fi
echo "server listening on port $port"

"$client" "$port"
client_status=$?

kill -INT "$pid"
wait "$pid"
server_status=$?
cat "$out"
if [[ $client_status -ne 0 ]]; then echo "FAILED: the client exited $client_status"; exit 1; fi
if [[ $server_status -ne 0 ]]; then echo "FAILED: the server exited $server_status after SIGINT"; exit 1; fi
if ! grep -q "shut down cleanly" "$out"; then echo "FAILED: no clean shutdown message"; exit 1; fi
echo "PASSED"
