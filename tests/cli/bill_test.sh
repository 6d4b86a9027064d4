#!/usr/bin/env bash
# End-to-end checks of `orgledger bill` and `orgledger export focus` on DOMAIN.md's worked example.
# Usage: bill_test.sh ORGLEDGER_BINARY EXAMPLES_DIR
set -uo pipefail

orgledger=$1
examples=$2
python=/usr/bin/python3  # Debian's Python: another python3 may come first on PATH
source "$(dirname "$0")/lib.sh"
data=$work/data

check "the management account is secured" secure_example_account --data "$data"
"$orgledger" append --data "$data" --digest "$examples/worked_example.jsonl" >"$work/append" 2>&1
check "the worked example appends" test $? -eq 0

# --- the worked example to the cent ---------------------------------------------------------
"$orgledger" bill 111111111111 2026-10 --data "$data" >"$work/bill" 2>&1
check "bill exits 0" test $? -eq 0
check "bill shows the consolidated total 2,007.04" grep -qE "^  total +2,007\.04$" "$work/bill"
check "bill shows the management account's line 1,338.03" grep -qE "^  111111111111 +DataTransfer-Out-GB +8192 GB +1,392\.64 +1,338\.03$" "$work/bill"
check "bill shows the member's line 669.01" grep -qE "^  222222222222 +DataTransfer-Out-GB +4096 GB +696\.32 +669\.01$" "$work/bill"
check "bill shows standalone 2,088.96" grep -qE "^  standalone \(each account alone\) +2,088\.96$" "$work/bill"
check "bill shows savings 81.92" grep -qE "^  savings from consolidation +81\.92$" "$work/bill"
check "bill shows the invoice and its member summaries" \
  bash -c "grep -q 'INVOICE 2,007.04 USD' '$work/bill' && grep -qE '^    111111111111 +Example Corp +1,338\.03$' '$work/bill' && grep -qE '^    222222222222 +Member +669\.01$' '$work/bill'"

"$orgledger" bill 111111111111 2026-10 --data "$data" --json >"$work/bill.json"
json_field() {  # json_field PYTHON_EXPRESSION: evaluated with `bill` bound to the parsed JSON
  "$python" -c "import json,sys; bill=json.load(open('$work/bill.json')); print($1)"
}
check "--json total is the exact string 2007.04" test "$(json_field 'bill["total"]')" = "2007.04"
check "--json savings is 81.92" test "$(json_field 'bill["savings"]')" = "81.92"
check "--json standalone is 2088.96" test "$(json_field 'bill["standalone_total"]')" = "2088.96"
check "--json member invoice amounts are 1338.03 and 669.01" \
  test "$(json_field '",".join(m["invoice_amount"] for m in bill["members"])')" = "1338.03,669.01"
check "--json billed cost is exact to the nano-dollar" \
  test "$(json_field 'bill["lines"][0]["billed_cost"]')" = "1338.026666667"
check "--json has no JSON numbers for money" \
  test "$(json_field 'sum(1 for k,v in bill.items() if isinstance(v,(int,float)) and not isinstance(v,bool))')" = "0"

# --- the summary: the same bill without its per-account lines ---------------------------------
"$orgledger" bill 111111111111 2026-10 --data "$data" --json --summary >"$work/summary.json"
check "--summary --json is the bill's JSON without its lines" "$python" -c "
import json
full = json.load(open('$work/bill.json')); summary = json.load(open('$work/summary.json'))
del full['lines']
assert 'lines' not in summary and summary == full and summary['total'] == '2007.04'"
"$orgledger" bill 111111111111 2026-10 --data "$data" --summary >"$work/summary"
check "--summary shows the total and the members but no lines" bash -c \
  "grep -qE '^  total +2,007\.04$' '$work/summary' && grep -qE '^    222222222222 +Member +669\.01$' '$work/summary' && ! grep -q 'BILLED' '$work/summary'"

# --- replay digest covers the ledger and equals the served state's ---------------------------
served=$(grep '^digest ' "$work/append")
replayed=$("$orgledger" replay --data "$data" --digest | grep '^digest ')
check "replay digest equals the digest of the served state" test "$served" = "$replayed"
"$orgledger" replay --data "$data" >"$work/replay"
check "replay counts the usage aggregates" grep -q "2 usage aggregate(s)" "$work/replay"

# --- FOCUS export --------------------------------------------------------------------------
cat >"$work/names.jsonl" <<'JSONL'
{"type":"AccountCreated","account_id":"333333333333","email":"tricky@example.com","name":"Data, \"Platform\" Team","org_id":"o-exampleorg1","occurred_at":"2026-10-06T00:00:00Z"}
{"type":"UsageRecorded","account_id":"333333333333","usage_type":"DataTransfer-Out-GB","quantity":"0.000001","occurred_at":"2026-10-07T00:00:00Z"}
{"type":"CreditGranted","credit_id":"welcome-1","account_id":"333333333333","amount":"25","description":"welcome, \"new\" team","occurred_at":"2026-10-08T00:00:00Z"}
JSONL
"$orgledger" append --data "$data" "$work/names.jsonl" >/dev/null
check "a name with a comma and quotes appends" test $? -eq 0
"$orgledger" export focus 111111111111 2026-10 --data "$data" -o "$work/focus.csv"
check "export focus exits 0" test $? -eq 0
"$orgledger" bill 111111111111 2026-10 --data "$data" --json >"$work/bill.json"
"$python" - "$work/focus.csv" "$(json_field 'bill["total"]')" >"$work/focus.out" 2>&1 <<'PY'
import csv, sys
from decimal import Decimal
expected = ["BillingAccountId", "BillingAccountName", "SubAccountId", "SubAccountName",
            "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd",
            "ChargeCategory", "ChargeClass", "ChargeDescription", "BilledCost", "EffectiveCost",
            "ListCost", "ContractedCost", "BillingCurrency", "ServiceName", "ServiceCategory",
            "SkuId", "PricingQuantity", "PricingUnit", "InvoiceIssuerName", "ProviderName",
            "PublisherName"]
with open(sys.argv[1], newline="") as f:
    rows = list(csv.reader(f))
header, body = rows[0], rows[1:]
assert header == expected, f"header {header}"
assert all(len(row) == len(expected) for row in body), "ragged rows"
records = [dict(zip(header, row)) for row in body]
total = sum(Decimal(r["BilledCost"]) for r in records)
assert total == Decimal(sys.argv[2]), f"sum of BilledCost {total} != bill total {sys.argv[2]}"
names = {r["SubAccountName"] for r in records}
assert 'Data, "Platform" Team' in names, f"names {names}"
assert any(r["ChargeCategory"] == "Credit" and 'welcome, "new" team' in r["ChargeDescription"]
           for r in records), "credit row"
assert all(r["BillingPeriodStart"] == "2026-10-01T00:00:00Z" and
           r["BillingPeriodEnd"] == "2026-11-01T00:00:00Z" for r in records)
print("focus ok", len(records), "rows, total", total)
PY
check "FOCUS: header, sum of BilledCost = bill total, names survive a CSV reader" grep -q "^focus ok" "$work/focus.out"
cat "$work/focus.out" >&2

# --- a closed month's bill never changes --------------------------------------------------
echo '{"type":"BillingPeriodClosed","month":"2026-10","occurred_at":"2026-11-01T00:00:00Z"}' >"$work/close.jsonl"
"$orgledger" append --data "$data" "$work/close.jsonl" >/dev/null
check "October closes" test $? -eq 0
"$orgledger" bill 111111111111 2026-10 --data "$data" >"$work/closed.before"
"$orgledger" bill 111111111111 2026-10 --data "$data" --json >"$work/closed.before.json"
check "the closed bill says closed" grep -q "\[closed\]" "$work/closed.before"
cat >"$work/late.jsonl" <<'JSONL'
{"type":"UsageRecorded","account_id":"222222222222","usage_type":"DataTransfer-Out-GB","quantity":"500","occurred_at":"2026-10-30T00:00:00Z"}
{"type":"UsageRecorded","account_id":"222222222222","usage_type":"DataTransfer-Out-GB","quantity":"10","occurred_at":"2026-11-02T00:00:00Z"}
JSONL
"$orgledger" append --data "$data" "$work/late.jsonl" >/dev/null
"$orgledger" bill 111111111111 2026-10 --data "$data" >"$work/closed.after"
"$orgledger" bill 111111111111 2026-10 --data "$data" --json >"$work/closed.after.json"
check "the closed bill is identical after more events" cmp -s "$work/closed.before" "$work/closed.after"
check "the closed bill's JSON is identical after more events" cmp -s "$work/closed.before.json" "$work/closed.after.json"
"$orgledger" bill 111111111111 2026-11 --data "$data" >"$work/november"
check "late October usage is a November correction" grep -qE "^  222222222222 +DataTransfer-Out-GB +2026-10 +500 " "$work/november"
"$orgledger" bill 111111111111 2026-10 --data "$data" --as-of 8 >"$work/asof"
check "--as-of a position before the close shows the open bill" grep -q "\[open: may still change\]" "$work/asof"

# --- errors ---------------------------------------------------------------------------------
"$orgledger" bill 111111111111 2026-13 --data "$data" 2>"$work/err"
check "a bad month is refused" grep -q "^error: InvalidArgument InvalidInput: month \"2026-13\"" "$work/err"
"$orgledger" bill 999999999999 2026-10 --data "$data" 2>"$work/err"
check "an unknown payer is refused" grep -q "^error: NotFound AccountNotFound" "$work/err"
echo '{"type":"BillingPeriodClosed","month":"2026-12","occurred_at":"2026-11-20T00:00:00Z"}' >"$work/early.jsonl"
"$orgledger" append --data "$data" "$work/early.jsonl" 2>"$work/err"
check "closing out of order is refused with its line" grep -q "^error: FailedPrecondition PeriodCloseOutOfOrder: line 1" "$work/err"

finish
