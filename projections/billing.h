// The consolidated ledger: rules of the price, usage, credit and period events, and the bill
// (DOMAIN.md "Prices, usage and the consolidated bill"). Pure functions of the registry state.
#pragma once

#include <string>
#include <string_view>

#include "projections/bill.h"
#include "projections/json_writer.h"
#include "projections/registry.h"
#include "projections/status.h"

namespace orgledger {

// Validate and apply PriceScheduleSet, UsageRecorded, CreditGranted, CreditSharingSet and
// BillingPeriodClosed (registry.cpp dispatches here). Same contracts as validate/apply.
Status validate_billing_event(const Registry& state, const fb::Event& event,
                              const EventContext& context);
void apply_billing_event(Registry& state, const fb::Event& event, const EventContext& context);

// Reverts an applied UsageRecorded: its aggregate (or correction) and the account's latest usage
// time, set back to `prior_last_usage_at`. Reverting the usage events of a request in reverse
// order restores the state before them, but for `billing.earliest_usage_month`, which the caller
// restores. The engine uses it so that a request of usage events needs no copy of the state.
void unapply_usage(Registry& state, const fb::Event& event, Micros prior_last_usage_at);

// The bill of `payer_id` for `month` as the state implies it: frozen when the month is closed,
// computed from the aggregates otherwise (credits consumed by earlier open months included).
// A payer with nothing in that month gets an empty bill. InvalidArgument/AmountOverflow when a
// figure does not fit in int64 nano-USD.
Result<Bill> compute_bill(const Registry& state, std::string_view payer_id, Month month);

// The canonical JSON of a bill (what `orgledger bill --json` prints and what a frozen bill is
// stored as): amounts and quantities as exact decimal strings. Without `with_lines`, the
// summary: no "lines" key (usage types, corrections, credits, members and totals only).
std::string bill_to_json(const Bill& bill, bool with_lines = true);

// One account's charges on `bill` (what a member may see): its lines, corrections and the
// credits applied to it, with the totals of its member summary; no other account and no
// consolidated per-usage-type figures. Empty when the account has no charges there.
Bill charges_of(const Bill& bill, std::string_view account_id);

// Every entry the `ledger` column family holds for this state, in key order.
LedgerWrites ledger_entries(const Registry& state);

// "2,007.04": cents with thousands separators, for people.
std::string format_cents(int64_t cents);

}  // namespace orgledger
