# Shared by the end-to-end scripts: a temp work directory removed on exit, and `check`, which
# counts passes and failures and names each failure. Source it, then end with `finish`.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

check() {  # check DESCRIPTION COMMAND...
  local description=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED: $description" >&2
  fi
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# secure_example_account APPEND_ARGS...: appends the example management account (created, with
# its password) and enables MFA for it with a new seed in $work/seed, through
# `$orgledger append APPEND_ARGS...` (so --data DIR or --connect HOST:PORT). Needs $orgledger
# and $examples.
secure_example_account() {
  "$orgledger" append "$@" "$examples/management_account.jsonl" >/dev/null || return 1
  "$repo/scripts/mfa-line" "$orgledger" 111111111111 phone "$work/seed" >"$work/mfa.jsonl" || return 1
  "$orgledger" append "$@" "$work/mfa.jsonl" >/dev/null
}

finish() {
  echo "$passed passed, $failed failed"
  test "$failed" -eq 0
}
