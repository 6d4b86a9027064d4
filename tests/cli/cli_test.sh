#!/usr/bin/env bash
# End-to-end checks of the orgledger command line on a fresh embedded store.
# Usage: cli_test.sh ORGLEDGER_BINARY TAMPER_BINARY EXAMPLES_DIR
set -uo pipefail

orgledger=$1
tamper=$2
examples=$3
source "$(dirname "$0")/lib.sh"
data=$work/data

head_line() { "$orgledger" verify --data "$data" | grep '^head position'; }

# --- securing the management account -------------------------------------------------------
echo '{"type":"AccountCreated","account_id":"111111111111","email":"billing@example.com","name":"Example Corp","occurred_at":"2026-09-01T09:00:00Z"}' >"$work/unsecured.jsonl"
sed -n 1p "$examples/org_history.jsonl" >>"$work/unsecured.jsonl"
"$orgledger" append --data "$work/unsecured" "$work/unsecured.jsonl" 2>"$work/err"
check "an organization with an unsecured management account is refused" \
  grep -q "^error: FailedPrecondition ManagementAccountNotSecured: line 2" "$work/err"
check "secure_example_account: account, password (hashed) and MFA (a current code)" \
  secure_example_account --data "$data"
"$orgledger" account 111111111111 --data "$data" >"$work/out"
check "account shows the password and the MFA device" grep -q "security      password set; MFA on (phone)" "$work/out"
check "account shows who did what" grep -qE "^ +2 .* PasswordChanged +operator:local$" "$work/out"
password=$(sed -n 's/.*"password":"\([^"]*\)".*/\1/p' "$examples/management_account.jsonl")
check "the password is not in the log" bash -c "! '$orgledger' tail --data '$data' | grep -qF '$password'"
check "the TOTP seed is not in the log" bash -c "! '$orgledger' tail --data '$data' | grep -qF '$(cat "$work/seed")'"

# --- append, twice -------------------------------------------------------------------------
"$orgledger" append --data "$data" "$examples/org_history.jsonl" >"$work/out" 2>"$work/err"
check "append exits 0" test $? -eq 0
check "append reports 13 new events" grep -q "appended 13 new event(s), 0 already stored" "$work/out"
first_head=$(head_line)
check "head is at position 16" grep -q "^head position 16 " <<<"$first_head"

"$orgledger" append --data "$data" "$examples/org_history.jsonl" >"$work/out" 2>&1
check "appending the same file again exits 0" test $? -eq 0
check "appending the same file again stores nothing" grep -q "appended 0 new event(s), 13 already stored" "$work/out"
check "the head is unchanged by the second append" test "$(head_line)" = "$first_head"

"$orgledger" append --data "$data" --json - <"$examples/org_history.jsonl" >"$work/out"
check "--json gives one result per line" test "$(grep -c '"result":"already_stored"' "$work/out")" -eq 13

# --- projections ---------------------------------------------------------------------------
"$orgledger" org o-exampleorg1 --data "$data" >"$work/out"
check "org lists the management account" grep -q "111111111111.*(management)" "$work/out"
check "org lists a created member" grep -q "222222222222 .*CREATED" "$work/out"
check "org omits the member that left" bash -c "! grep -q '^  333333333333' '$work/out'"
check "org shows the pending invitation" grep -q "h-invite000003 .*REQUESTED" "$work/out"
"$orgledger" org o-exampleorg1 --data "$data" --json >"$work/out"
check "org --json names the feature set" grep -q '"feature_set":"ALL"' "$work/out"

"$orgledger" account 333333333333 --data "$data" >"$work/out"
check "account shows it is standalone after leaving" grep -q "standalone" "$work/out"
check "account shows its membership history" grep -q "o-exampleorg1 .*INVITED .*2026-10-20T00:00:00Z" "$work/out"
"$orgledger" account 333333333333 --data "$data" --as-of 13 >"$work/out" 2>&1
check "account --as-of a position before it left shows it as a member" grep -q "member; payer 111111111111" "$work/out"
"$orgledger" account 333333333333 --data "$data" --as-of 2000-01-01T00:00:00Z 2>"$work/err"
check "account --as-of a time before the log began finds nothing" grep -q "^error: NotFound AccountNotFound" "$work/err"

"$orgledger" account 999999999999 --data "$data" 2>"$work/err"
check "an unknown account exits 1" test $? -eq 1
check "an unknown account gives the error line" grep -q "^error: NotFound AccountNotFound: " "$work/err"

# --- replay --------------------------------------------------------------------------------
digest_one=$("$orgledger" replay --data "$data" --digest | grep '^digest ')
digest_two=$("$orgledger" replay --data "$data" --digest --json | sed -n 's/.*"digest":"\([0-9a-f]*\)".*/digest \1/p')
check "replay prints a digest" grep -qE '^digest [0-9a-f]{64}$' <<<"$digest_one"
check "replay is deterministic (human and JSON agree)" test "$digest_one" = "$digest_two"
"$orgledger" replay --data "$data" --to 5 >"$work/out"
check "replay --to 5 stops at 5" grep -q "replayed 5 record(s), positions 1..5: 1 account(s), 1 organization(s)" "$work/out"

# --- bad input: refused with its line number, nothing stored --------------------------------
refused() {  # refused NAME LINE_NUMBER JSON_LINE
  local name=$1 line_number=$2 bad=$3
  {
    echo '{"type":"AccountCreated","account_id":"777777777777","email":"new@example.com","name":"New","occurred_at":"2026-11-02T00:00:00Z"}'
    echo "$bad"
  } >"$work/bad.jsonl"
  "$orgledger" append --data "$data" "$work/bad.jsonl" >"$work/out" 2>"$work/err"
  local status=$?
  check "$name: exits non-zero" test $status -ne 0
  check "$name: names line $line_number" grep -q "line $line_number" "$work/err"
  check "$name: one error line of the form 'error: CODE Reason: message'" \
    grep -qE '^error: [A-Za-z]+ [A-Za-z]+(/[A-Z_]+)?: ' "$work/err"
  check "$name: nothing stored" test "$(head_line)" = "$first_head"
}
refused "unknown type" 2 '{"type":"AccountTeleported","account_id":"777777777777","occurred_at":"2026-11-02T00:00:00Z"}'
refused "13-digit account id" 2 '{"type":"AccountCreated","account_id":"7777777777777","email":"x@example.com","name":"X","occurred_at":"2026-11-02T00:00:00Z"}'
refused "exponent quantity" 2 '{"type":"UsageRecorded","account_id":"222222222222","usage_type":"DataTransfer-Out-GB","quantity":"1e3","occurred_at":"2026-11-02T00:00:00Z"}'
refused "float quantity" 2 '{"type":"UsageRecorded","account_id":"222222222222","usage_type":"DataTransfer-Out-GB","quantity":0.5,"occurred_at":"2026-11-02T00:00:00Z"}'
refused "float price" 2 '{"type":"PriceScheduleSet","usage_type":"X","service":"ec2","unit":"GB","effective_month":"2026-11","tiers":[{"unit_price":0.17}],"occurred_at":"2026-11-02T00:00:00Z"}'
refused "not JSON" 2 '{"type":'
refused "domain rule (closing the management account)" 2 '{"type":"AccountClosed","account_id":"111111111111","occurred_at":"2026-11-02T00:00:00Z"}'
refused "future timestamp" 2 '{"type":"AccountClosed","account_id":"222222222222","occurred_at":"2099-01-01T00:00:00Z"}'
refused "weak password" 2 '{"type":"PasswordSet","account_id":"777777777777","password":"password"}'
check "weak password: the rule that failed is named, the password is not" \
  bash -c "grep -q 'PasswordPolicyViolation' '$work/err' && ! grep -q '\"password\"' '$work/err'"
refused "password equal to the email" 2 '{"type":"PasswordSet","account_id":"777777777777","password":"new@example.com"}'
refused "PasswordChanged without a password" 2 '{"type":"PasswordChanged","account_id":"777777777777","occurred_at":"2026-11-02T00:00:00Z"}'
check "PasswordChanged without a password: SecretRequired" grep -q "InvalidArgument SecretRequired" "$work/err"
refused "MFA with a wrong code" 2 '{"type":"MfaEnabled","account_id":"777777777777","device_id":"phone","totp_seed":"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP","code":"000000"}'
check "MFA with a wrong code: InvalidMfaCode" grep -q "InvalidArgument InvalidMfaCode" "$work/err"
refused "MFA with a short seed" 2 '{"type":"MfaEnabled","account_id":"777777777777","device_id":"phone","totp_seed":"JBSWY3DP","code":"000000"}'
refused "MFA without its code" 2 '{"type":"MfaEnabled","account_id":"777777777777","device_id":"phone","totp_seed":"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"}'

# --- reading commands never create a store -------------------------------------------------
"$orgledger" verify --data "$work/absent" 2>"$work/err"
check "verify on a missing store exits 1" test $? -eq 1
check "verify on a missing store says so" grep -q "^error: NotFound" "$work/err"
check "verify on a missing store creates nothing" test ! -e "$work/absent"

# --- usage errors --------------------------------------------------------------------------
"$orgledger" replay --data "$data" --to 3 --until 2026-10-01T00:00:00Z 2>"$work/err"
check "--to with --until is a usage error (exit 2)" test $? -eq 2
check "usage errors use the error line" grep -q "^error: InvalidArgument" "$work/err"

# --- corruption ----------------------------------------------------------------------------
"$orgledger" verify --data "$data" --from 5 --to 9 >"$work/out"
check "verify of a sub-range passes" grep -q "verified 5 record(s), positions 5..9" "$work/out"
"$tamper" "$data" 7
"$orgledger" verify --data "$data" >"$work/out" 2>"$work/err"
check "verify of a changed store exits 1" test $? -eq 1
check "verify names the changed position" grep -qE "^error: DataLoss [A-Za-z]+: .*position 7" "$work/err"
"$orgledger" verify --data "$data" --json >"$work/out"
check "verify --json names the first bad position" grep -q '"first_bad_position":7' "$work/out"

finish
