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

// One usage event about to be validated, as UsagePrefetch reads it.
struct UsageAhead {
  std::string_view account_id;  // empty: nothing to find for this event
  Micros occurred_at = 0;
  std::string_view usage_type;
};

// Finds the accounts of a run of usage events a few events ahead of their validation, and asks
// the memory early for what validating and applying each one reads: the account's index slot
// and fields, its memberships, the membership's place in its organization, the aggregate the
// usage joins. On a large state each of these reads misses the CPU's caches, and made when the
// event is validated each waits for the one before; asked for in stages over the events ahead,
// they arrive while the events before are processed.
//
// Call found(i) as event i is validated, i never decreasing (events that need no validation
// may be skipped). It returns the event's account (nullptr when `state` has none by that id) and
// its usage type's number (none when never priced): the EventContext::usage_ahead of that
// event, valid while `state` is not replaced (accounts are never removed, a map's entries do not
// move, and a usage type keeps its number). The usage events in between may change `state`.
class UsagePrefetch {
 public:
  UsagePrefetch(const Registry& state, std::vector<UsageAhead> usage);
  UsageFound found(size_t i);

 private:
  // Events ahead between stages: each stage reads what the one before asked for.
  static constexpr size_t kDistance = 6;
  void find_slot(size_t i);       // stage 1: the account index's slot of the id's hash
  void find_candidate(size_t i);  // stage 2: the entry of that hash, without reading its key
  void find_account(size_t i);    // stage 3: the account (its key compared), and its fields
  void find_aggregate(size_t i);  // stage 4: its usage type, membership and aggregate

  using AccountEntry = IndexedById<Account>::const_iterator;
  const Registry& state_;
  std::vector<UsageAhead> usage_;
  std::vector<uint64_t> hashes_;
  std::vector<AccountEntry> candidates_;
  std::vector<UsageFound> found_by_event_;
  // The events each stage has done.
  size_t slots_ = 0, candidates_found_ = 0, accounts_found_ = 0, aggregates_ = 0;
};

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
