#!/usr/bin/env bash
# End-to-end checks of `orgledger serve` and the CLI's --connect: signing in (operator tokens,
# an account's password and TOTP code, lockout), who may read and append what, TLS, every
# reading command printing over the socket exactly what it prints embedded on the same store,
# tail, a clean SIGTERM stop, and no secret in the stored bytes or the logs.
# Usage: serve_test.sh ORGLEDGER_BINARY SCAN_SECRETS_BINARY EXAMPLES_DIR
set -uo pipefail

orgledger=$1
scan_secrets=$2
examples=$3
source "$(dirname "$0")/lib.sh"
served=$work/served
embedded=$work/embedded
servers=()
trap 'for pid in "${servers[@]}"; do kill -TERM "$pid" 2>/dev/null; done; rm -rf "$work"' EXIT

# Operator tokens: the auth file keeps hashes only.
for role in admin ingest auditor; do
  "$orgledger" token create --name "test-$role" --role "$role" --auth "$work/auth" --out "$work/$role.token" >/dev/null
done
check "the auth file holds three hashed tokens" test "$(grep -c ' sha256:' "$work/auth")" -eq 3
check "the auth file holds no token" bash -c "! grep -qF '$(cat "$work/admin.token")' '$work/auth'"
check "token files are private" test "$(stat -c %a "$work/admin.token")" = 600
"$orgledger" token create --name test-admin --role admin --auth "$work/auth" --out "$work/again.token" 2>"$work/err"
check "a token name is used once" grep -q "^error: AlreadyExists" "$work/err"

start_server() {  # start_server NAME ARGS...: sets $server and $address
  local name=$1
  shift
  "$orgledger" serve --auth "$work/auth" --listen 127.0.0.1:0 "$@" >"$work/$name.out" 2>"$work/$name.log" &
  server=$!
  servers+=("$server")
  for _ in $(seq 100); do grep -q serving "$work/$name.out" 2>/dev/null && break; sleep 0.05; done
  address=$(sed -n 's/.* on \(.*\)$/\1/p' "$work/$name.out")
}
start_server serve --data "$served" --lockout-after 3 --lockout-seconds 2
check "the server prints its address" test -n "$address"

# --- signing in --------------------------------------------------------------------------------
"$orgledger" verify --connect "$address" 2>"$work/err"
check "without credentials a command is refused" grep -q "^error: Unauthenticated AuthenticationRequired" "$work/err"
echo "olt_0000000000000000000000000000000000000000000000000000000000000000" >"$work/wrong.token"
"$orgledger" verify --connect "$address" --token-file "$work/wrong.token" 2>"$work/err"
check "an unknown token is refused" grep -q "^error: Unauthenticated AuthenticationFailed" "$work/err"

export ORGLEDGER_TOKEN_FILE=$work/admin.token
check "the management account is secured over the socket" secure_example_account --connect "$address"
secure_example_account --data "$embedded"
for file in org_history price_catalogue org_policies october_usage; do
  "$orgledger" append --connect "$address" "$examples/$file.jsonl" >/dev/null
  check "append $file over the socket" test $? -eq 0
  "$orgledger" append --data "$embedded" "$examples/$file.jsonl" >/dev/null
done

# The management account signs in with its password and a TOTP code; it reads its whole
# organization and bill. A code is accepted once.
sed -n 's/.*"password":"\([^"]*\)".*/\1/p' "$examples/management_account.jsonl" >"$work/password"
as_payer=(--login 111111111111 --password-file "$work/password")
# The code of enabling the device was used: sign in with the next step's (one step of clock skew
# is accepted).
code=$("$orgledger" totp code --seed-file "$work/seed" --at "$(date -u -d '+30 seconds' +%Y-%m-%dT%H:%M:%SZ)")
ORGLEDGER_TOKEN_FILE= "$orgledger" bill 111111111111 2026-10 --connect "$address" "${as_payer[@]}" --totp-code "$code" >"$work/out" 2>&1
check "the payer signs in with password and TOTP and reads its bill" grep -q "INVOICE 6,816.78 USD" "$work/out"
ORGLEDGER_TOKEN_FILE= "$orgledger" org o-exampleorg1 --connect "$address" "${as_payer[@]}" --totp-seed-file "$work/seed" 2>"$work/err"
check "the same TOTP code is refused the second time" grep -q "^error: Unauthenticated AuthenticationFailed" "$work/err"
ORGLEDGER_TOKEN_FILE= "$orgledger" bill 111111111111 2026-10 --connect "$address" --login 111111111111 --password-file "$work/password" 2>"$work/err"
check "without its TOTP code the payer is refused" grep -q "^error: Unauthenticated AuthenticationFailed" "$work/err"
sleep 2.2  # the failures above came from this address: let the lockout they caused pass

# A member with a password (no MFA) reads its own charges but not the consolidated bill.
echo "Data-Platform-2026!" >"$work/member.password"
echo '{"type":"PasswordSet","account_id":"222222222222","password":"Data-Platform-2026!"}' >"$work/member.jsonl"
"$orgledger" append --connect "$address" "$work/member.jsonl" >/dev/null
check "an operator sets a member's password" test $? -eq 0
as_member=(--login 222222222222 --password-file "$work/member.password")
ORGLEDGER_TOKEN_FILE= "$orgledger" bill 111111111111 2026-10 --account 222222222222 --connect "$address" "${as_member[@]}" >"$work/out" 2>&1
check "a member reads its own charges" grep -q "^Charges of account 222222222222 on the bill of 111111111111" "$work/out"
check "its charges list its own lines" grep -qE "^  222222222222 +DataTransfer-Out-GB " "$work/out"
check "its charges name no other account" bash -c "! grep -qE '^ +(111111111111|333333333333|555555555555) ' '$work/out'"
ORGLEDGER_TOKEN_FILE= "$orgledger" bill 111111111111 2026-10 --connect "$address" "${as_member[@]}" 2>"$work/err"
check "a member may not read the consolidated bill" grep -q "^error: PermissionDenied AccessDenied" "$work/err"
ORGLEDGER_TOKEN_FILE= "$orgledger" account 555555555555 --connect "$address" "${as_member[@]}" 2>"$work/err"
check "a member may not read another member" grep -q "^error: PermissionDenied AccessDenied" "$work/err"
echo '{"type":"AccountQuotaSet","org_id":"o-exampleorg1","max_accounts":50,"occurred_at":"2026-11-20T00:00:00Z"}' >"$work/quota.jsonl"
ORGLEDGER_TOKEN_FILE= "$orgledger" append --connect "$address" "${as_member[@]}" "$work/quota.jsonl" 2>"$work/err"
check "a member may not change the organization" grep -q "^error: PermissionDenied AccessDenied: line 1" "$work/err"

# Roles: the auditor reads and verifies but appends nothing; ingest appends usage only.
"$orgledger" verify --connect "$address" --token-file "$work/auditor.token" >"$work/out"
check "the auditor verifies" grep -q "hash chain intact" "$work/out"
"$orgledger" append --connect "$address" --token-file "$work/auditor.token" "$work/quota.jsonl" 2>"$work/err"
check "the auditor may not append" grep -q "^error: PermissionDenied AccessDenied" "$work/err"
"$orgledger" append --connect "$address" --token-file "$work/ingest.token" "$work/quota.jsonl" 2>"$work/err"
check "ingest may not change an organization" grep -q "^error: PermissionDenied AccessDenied" "$work/err"
"$orgledger" bill 111111111111 2026-10 --connect "$address" --token-file "$work/ingest.token" 2>"$work/err"
check "ingest may not read bills" grep -q "^error: PermissionDenied AccessDenied" "$work/err"
echo '{"type":"UsageRecorded","account_id":"222222222222","usage_type":"DataTransfer-Out-GB","quantity":"1","occurred_at":"2026-11-03T00:00:00Z"}' >"$work/usage.jsonl"
"$orgledger" append --connect "$address" --token-file "$work/ingest.token" "$work/usage.jsonl" >/dev/null
check "ingest appends usage" test $? -eq 0
"$orgledger" append --data "$embedded" "$work/member.jsonl" >/dev/null
"$orgledger" append --data "$embedded" "$work/usage.jsonl" >/dev/null

# Lockout: repeated failures for one account are slowed down, then locked out, and logged.
echo "Wrong-Passw0rd!" >"$work/wrong.password"
for _ in 1 2 3; do
  ORGLEDGER_TOKEN_FILE= "$orgledger" account 222222222222 --connect "$address" --login 222222222222 --password-file "$work/wrong.password" 2>/dev/null
done
ORGLEDGER_TOKEN_FILE= "$orgledger" account 222222222222 --connect "$address" "${as_member[@]}" 2>"$work/err"
check "after 3 failures even the right password is locked out" grep -q "^error: ResourceExhausted LockedOut" "$work/err"
check "the lockout is logged" grep -q "authentication locked out account:222222222222" "$work/serve.log"
sleep 2.2
ORGLEDGER_TOKEN_FILE= "$orgledger" account 222222222222 --connect "$address" "${as_member[@]}" >"$work/out" 2>&1
check "the lockout ends" grep -q "^account 222222222222" "$work/out"

"$orgledger" org o-exampleorg1 --connect "$address" >"$work/org.txt"
check "org shows the tree with policies" grep -q "ou-exampleorg1-sandboxes Sandboxes  \[p-sandboxonly sandbox-services\]" "$work/org.txt"
"$orgledger" account 555555555555 --connect "$address" >"$work/account.txt"
check "account shows its path" grep -q "path          r-exampleorg1 / ou-exampleorg1-sandboxes / 555555555555" "$work/account.txt"
check "account shows the services it may use" grep -q "services      may use cloudwatch lambda s3; denied .*ec2" "$work/account.txt"
echo '{"type":"UsageRecorded","account_id":"555555555555","usage_type":"DataTransfer-Out-GB","quantity":"5","occurred_at":"2026-11-02T00:00:00Z"}' >"$work/denied.jsonl"
"$orgledger" append --connect "$address" "$work/denied.jsonl" 2>"$work/denied.err"
check "usage denied by policy is refused over the socket" grep -q "^error: PermissionDenied PolicyDenied: line 1" "$work/denied.err"

"$orgledger" verify --connect "$address" >"$work/verify.txt"
check "verify over the socket" grep -q "verified 455 record(s), positions 1..455: hash chain intact" "$work/verify.txt"

timeout 3 "$orgledger" tail --connect "$address" --from 453 >"$work/tail.txt"
check "tail streams from the position (and keeps following until stopped)" test "$(wc -l <"$work/tail.txt")" -eq 3
check "tail lines carry the event in its JSON Lines form" grep -q '"position":453,.*"event":{"type":"CreditGranted"' "$work/tail.txt"
check "tail lines name the actor" grep -q '"position":455,.*"actor":"operator:test-ingest"' "$work/tail.txt"
"$orgledger" tail --data "$embedded" --from 453 >"$work/tail.embedded"
check "tail on a store prints what is stored" test "$(wc -l <"$work/tail.embedded")" -eq 3

# Every reading command over the socket, recorded now and compared below with the same command
# on the same store, embedded, once the server has stopped.
views=(
  "org o-exampleorg1"
  "org o-exampleorg1 --json"
  "account 333333333333"
  "account 555555555555"
  "bill 111111111111 2026-10"
  "bill 111111111111 2026-10 --json"
  "bill 111111111111 2026-10 --as-of 100"
  "bill 111111111111 2026-10 --account 222222222222"
  "export focus 111111111111 2026-10"
  "replay --digest"
  "account 999999999999"
)
for i in "${!views[@]}"; do
  # shellcheck disable=SC2086
  "$orgledger" ${views[$i]} --connect "$address" >"$work/socket.$i" 2>&1
done
check "the socket's error line has the usual form" grep -q "^error: NotFound AccountNotFound" "$work/socket.$((${#views[@]} - 1))"

kill -TERM "$server"
wait "$server"
check "SIGTERM stops the server with exit status 0" test $? -eq 0
check "the server logged its stop" grep -q "stopped; head position 455" "$work/serve.log"
for i in "${!views[@]}"; do
  # shellcheck disable=SC2086
  "$orgledger" ${views[$i]} --data "$served" >"$work/embedded.$i" 2>&1
  check "${views[$i]}: identical over the socket and embedded" cmp -s "$work/socket.$i" "$work/embedded.$i"
done
# The stopped server left a checkpoint at its head: reading commands start from it and must
# print what a full replay (--as-of the head) gives. Bills do not depend on who appended what
# or when, so a separate embedded store with the same events bills the same.
"$orgledger" org o-exampleorg1 --data "$served" --json >"$work/org.checkpoint"
"$orgledger" org o-exampleorg1 --data "$served" --json --as-of 455 >"$work/org.replayed"
check "an organization read from the checkpoint equals one from a full replay" cmp -s "$work/org.checkpoint" "$work/org.replayed"
"$orgledger" bill 111111111111 2026-10 --data "$served" >"$work/bill.served"
"$orgledger" bill 111111111111 2026-10 --data "$embedded" >"$work/bill.embedded"
check "the same events bill the same in another store" cmp -s "$work/bill.served" "$work/bill.embedded"
"$orgledger" org o-exampleorg1 --data "$served" >"$work/org.txt"
check "org shows who did what" grep -qE "OrganizationCreated +operator:test-admin$" "$work/org.txt"

# --- TLS -----------------------------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=orgledger-test \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
check "a test certificate is generated" test -s "$work/tls.crt"
start_server tls --data "$work/tls-data" --tls-cert "$work/tls.crt" --tls-key "$work/tls.key"
"$orgledger" append --connect "$address" --tls-ca "$work/tls.crt" "$examples/management_account.jsonl" >"$work/out" 2>&1
check "TLS: sign in and append through TLS" grep -q "appended 2 new event(s)" "$work/out"
"$orgledger" verify --connect "$address" --tls-ca "$work/tls.crt" >"$work/out" 2>&1
check "TLS: verify through TLS" grep -q "verified 2 record(s)" "$work/out"
"$orgledger" verify --connect "$address" 2>"$work/err"
check "TLS: a plain client fails cleanly" grep -q "^error: Unavailable" "$work/err"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=other \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$work/other.key" -out "$work/other.crt" 2>/dev/null
"$orgledger" verify --connect "$address" --tls-ca "$work/other.crt" 2>"$work/err"
check "TLS: a certificate from another CA is refused" grep -q "^error: Unavailable: TLS handshake .* failed: certificate verify failed" "$work/err"
check "TLS: the server logs failed handshakes" grep -q "tls handshake failed" "$work/tls.log"
"$orgledger" serve --auth "$work/auth" --data "$work/tls-data2" --tls-cert "$work/tls.crt" 2>"$work/err"
check "TLS: a certificate without its key is a usage error" test $? -eq 2
kill -TERM "$server"
wait "$server"

# --- no secret in the stored bytes or the logs ------------------------------------------------
secrets=("$work/password" "$work/seed" "$work/member.password" "$work/admin.token" "$work/ingest.token" "$work/auditor.token")
"$scan_secrets" "$served" "${secrets[@]}" >"$work/scan.out"
check "no secret in any column family but credentials" grep -q " 0 found$" "$work/scan.out"
cat "$work/scan.out"
"$scan_secrets" "$work/tls-data" "${secrets[@]}" >/dev/null
check "no secret in the TLS server's families either" test $? -eq 0
for file in "${secrets[@]}"; do
  check "$(basename "$file"): in no log line" bash -c "! grep -qF -f '$file' '$work/serve.log' '$work/tls.log'"
done
check "the passwords appear in no stored file at all" bash -c "! grep -rqF -e '$(cat "$work/password")' -e '$(cat "$work/member.password")' '$served'"

finish
