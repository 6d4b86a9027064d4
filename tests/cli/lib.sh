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

finish() {
  echo "$passed passed, $failed failed"
  test "$failed" -eq 0
}
