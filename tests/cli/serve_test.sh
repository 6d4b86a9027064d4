#!/usr/bin/env bash
# End-to-end checks of `orgledger serve` and the CLI's --connect: every reading command prints
# over the socket exactly what it prints embedded; tail streams; SIGTERM stops cleanly.
# Usage: serve_test.sh ORGLEDGER_BINARY EXAMPLES_DIR
set -uo pipefail

orgledger=$1
examples=$2
source "$(dirname "$0")/lib.sh"
served=$work/served
embedded=$work/embedded

"$orgledger" serve --data "$served" --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.log" &
server=$!
for _ in $(seq 100); do grep -q serving "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
address=$(sed -n 's/.* on \(.*\)$/\1/p' "$work/serve.out")
check "the server prints its address" test -n "$address"

for file in org_history price_catalogue org_policies october_usage; do
  "$orgledger" append --connect "$address" "$examples/$file.jsonl" >/dev/null
  check "append $file over the socket" test $? -eq 0
  "$orgledger" append --data "$embedded" "$examples/$file.jsonl" >/dev/null
done

same() {  # same DESCRIPTION ARGS...: the command prints the same over the socket and embedded
  local description=$1
  shift
  "$@" --connect "$address" >"$work/socket.txt" 2>&1
  "$@" --data "$embedded" >"$work/embedded.txt" 2>&1
  check "$description: identical over the socket and embedded" cmp -s "$work/socket.txt" "$work/embedded.txt"
}
same "org" "$orgledger" org o-exampleorg1
same "org --json" "$orgledger" org o-exampleorg1 --json
same "account" "$orgledger" account 333333333333
same "account under an allow-list" "$orgledger" account 555555555555
same "bill" "$orgledger" bill 111111111111 2026-10
same "bill --json" "$orgledger" bill 111111111111 2026-10 --json
same "bill --as-of" "$orgledger" bill 111111111111 2026-10 --as-of 100
same "export focus" "$orgledger" export focus 111111111111 2026-10
same "replay --digest" "$orgledger" replay --digest
same "an unknown account" "$orgledger" account 999999999999
check "the socket's error line has the usual form" grep -q "^error: NotFound AccountNotFound" "$work/socket.txt"

"$orgledger" org o-exampleorg1 --connect "$address" >"$work/org.txt"
check "org shows the tree with policies" grep -q "ou-exampleorg1-sandboxes Sandboxes  \[p-sandboxonly sandbox-services\]" "$work/org.txt"
"$orgledger" account 555555555555 --connect "$address" >"$work/account.txt"
check "account shows its path" grep -q "path          r-exampleorg1 / ou-exampleorg1-sandboxes / 555555555555" "$work/account.txt"
check "account shows the services it may use" grep -q "services      may use cloudwatch lambda s3; denied .*ec2" "$work/account.txt"
echo '{"type":"UsageRecorded","account_id":"555555555555","usage_type":"DataTransfer-Out-GB","quantity":"5","occurred_at":"2026-11-02T00:00:00Z"}' >"$work/denied.jsonl"
"$orgledger" append --connect "$address" "$work/denied.jsonl" 2>"$work/denied.err"
check "usage denied by policy is refused over the socket" grep -q "^error: PermissionDenied PolicyDenied: line 1" "$work/denied.err"

"$orgledger" verify --connect "$address" >"$work/verify.txt"
check "verify over the socket" grep -q "verified 451 record(s), positions 1..451: hash chain intact" "$work/verify.txt"

timeout 3 "$orgledger" tail --connect "$address" --from 449 >"$work/tail.txt"
check "tail streams from the position (and keeps following until stopped)" test "$(wc -l <"$work/tail.txt")" -eq 3
check "tail lines carry the event in its JSON Lines form" grep -q '"position":451,.*"event":{"type":"CreditGranted"' "$work/tail.txt"
"$orgledger" tail --data "$embedded" --from 449 >"$work/tail.embedded"
check "tail on a store prints what is stored" test "$(wc -l <"$work/tail.embedded")" -eq 3

kill -TERM "$server"
wait "$server"
check "SIGTERM stops the server with exit status 0" test $? -eq 0
check "the server logged its stop" grep -q "stopped; head position 451" "$work/serve.log"
# The stopped server left a checkpoint at its head: reading commands start from it, and must
# print what a full replay of the embedded store gives.
"$orgledger" bill 111111111111 2026-10 --data "$served" >"$work/bill.checkpoint"
"$orgledger" bill 111111111111 2026-10 --data "$embedded" >"$work/bill.replayed"
check "a bill read from the checkpoint equals one from a full replay" cmp -s "$work/bill.checkpoint" "$work/bill.replayed"
"$orgledger" org o-exampleorg1 --data "$served" --json >"$work/org.checkpoint"
"$orgledger" org o-exampleorg1 --data "$embedded" --json >"$work/org.replayed"
check "an organization read from the checkpoint equals one from a full replay" cmp -s "$work/org.checkpoint" "$work/org.replayed"
served_digest=$("$orgledger" replay --data "$served" --digest | grep '^digest')
embedded_digest=$("$orgledger" replay --data "$embedded" --digest | grep '^digest')
check "the stopped server's store replays to the embedded digest" test "$served_digest" = "$embedded_digest"

finish
