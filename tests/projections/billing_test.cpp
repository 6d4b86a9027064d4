// DOMAIN.md "Prices, usage and the consolidated bill": the worked example, payer resolution,
// period close, corrections, credits and exact arithmetic.
#include "projections/billing.h"

#include <doctest/doctest.h>

#include <limits>
#include <string>

#include "projections/ledger_keys.h"
#include "projections/snapshot.h"
#include "replay/record.h"
#include "tests/support/events.h"
#include "tests/support/status_matchers.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {

constexpr const char* kOrg = "o-exampleorg1";
constexpr const char* kPayer = "111111111111";
constexpr const char* kMember = "222222222222";
constexpr const char* kOutsider = "333333333333";
constexpr const char* kTransfer = "DataTransfer-Out-GB";

int64_t usd(std::string_view text) { return parse_decimal(text, kAmountScale).value(); }
int64_t qty(std::string_view text) { return parse_decimal(text, kQuantityScale).value(); }

// DOMAIN.md's worked example: tiers 10,240 GB at $0.17, then $0.13; a payer and one member.
Harness worked_example_organization() {
  Harness log;
  REQUIRE_OK(log.append(
      account_created(kPayer, "billing@example.com", "Example Corp", "", "2026-09-01T00:00:00Z")));
  for (const fb::EventT& event : secure_account(kPayer, "2026-09-01T00:00:30Z")) {
    REQUIRE_OK(log.append(event));
  }
  REQUIRE_OK(log.append(organization_created(kOrg, kPayer, "2026-09-01T00:01:00Z")));
  REQUIRE_OK(log.append(
      account_created(kMember, "member@example.com", "Member", kOrg, "2026-09-01T00:02:00Z")));
  REQUIRE_OK(log.append(
      account_created(kOutsider, "ops@outside.io", "Outside", "", "2026-09-01T00:03:00Z")));
  REQUIRE_OK(log.append(price_schedule_set(kTransfer, "ec2", "GB", "2026-09",
                                           {{"10240", "0.17"}, {std::nullopt, "0.13"}},
                                           "2026-08-20T00:00:00Z")));
  return log;
}

Bill bill_of(const Harness& log, const std::string& payer, std::string_view month) {
  auto bill = compute_bill(log.state(), payer, parse_month(month).value());
  REQUIRE(bill.is_ok());
  return *bill;
}

const BillLine* line_of(const Bill& bill, std::string_view account) {
  for (const BillLine& line : bill.lines) {
    if (line.account_id == account) return &line;
  }
  return nullptr;
}

const MemberSummary* member_of(const Bill& bill, std::string_view account) {
  for (const MemberSummary& member : bill.members) {
    if (member.account_id == account) return &member;
  }
  return nullptr;
}

}  // namespace

// ---- The worked example -----------------------------------------------------------------------

TEST_CASE("bill: DOMAIN.md's worked example to the cent") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(usage_recorded(kPayer, kTransfer, "8192", "2026-10-03T10:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kMember, kTransfer, "4096", "2026-10-05T10:00:00Z")));
  const Bill bill = bill_of(log, kPayer, "2026-10");
  REQUIRE(bill.usage_types.size() == 1);
  CHECK(bill.usage_types[0].quantity == qty("12288"));
  CHECK(bill.usage_types[0].consolidated_cost == usd("2007.04"));
  CHECK(bill.usage_total == usd("2007.04"));
  CHECK(bill.standalone_total == usd("2088.96"));
  CHECK(bill.savings == usd("81.92"));
  CHECK(line_of(bill, kPayer)->standalone_cost == usd("1392.64"));
  CHECK(line_of(bill, kPayer)->billed_cost == usd("1338.026666667"));
  CHECK(line_of(bill, kMember)->billed_cost == usd("669.013333333"));
  CHECK(bill.total == usd("2007.04"));
  CHECK(bill.invoice_cents == 200704);
  CHECK(member_of(bill, kPayer)->invoice_cents == 133803);
  CHECK(member_of(bill, kMember)->invoice_cents == 66901);
  CHECK(format_cents(bill.invoice_cents) == "2,007.04");
}

TEST_CASE("snapshot: the accounts' numbers are not part of the value, and aggregates must match") {
  // Accounts created out of id order: a replayed state numbers them in log order, a decoded one
  // in id order; both encode and bill the same.
  Harness log;
  for (const char* id : {kOutsider, kPayer, kMember}) {
    REQUIRE_OK(log.append(account_created(id, std::string(id) + "@example.com", "Account", "",
                                          "2026-09-01T00:00:00Z")));
  }
  REQUIRE_OK(log.append(price_schedule_set(kTransfer, "ec2", "GB", "2026-09",
                                           {{"10240", "0.17"}, {std::nullopt, "0.13"}},
                                           "2026-08-20T00:00:00Z")));
  for (const char* id : {kMember, kOutsider, kPayer}) {
    REQUIRE_OK(log.append(usage_recorded(id, kTransfer, "100", "2026-10-03T10:00:00Z")));
  }
  const Registry& state = log.state();
  CHECK(state.find_account(kOutsider)->index == 0);
  const std::string bytes = encode_snapshot(state);
  auto decoded = decode_snapshot(bytes);
  REQUIRE(decoded.is_ok());
  CHECK(decoded->find_account(kPayer)->index == 0);
  CHECK(encode_snapshot(*decoded) == bytes);
  CHECK(bill_to_json(compute_bill(*decoded, kMember, 202610).value()) ==
        bill_to_json(compute_bill(state, kMember, 202610).value()));

  // An aggregate of an account the snapshot does not hold, or one account's aggregate twice.
  Registry unknown = state;
  unknown.account_ids[unknown.find_account(kMember)->index] = "999999999999";
  auto refused = decode_snapshot(encode_snapshot(unknown));
  CHECK_FAILS_WITH(refused.status(), Code::kDataLoss, Reason::kCorruptRecord);
  CHECK(refused.status().message().find("an account it does not hold") != std::string::npos);
  // In an organization, the payer's and the member's usage are aggregates of one payer-month.
  Harness organization = worked_example_organization();
  REQUIRE_OK(organization.append(usage_recorded(kPayer, kTransfer, "1", "2026-10-03T10:00:00Z")));
  REQUIRE_OK(organization.append(usage_recorded(kMember, kTransfer, "1", "2026-10-03T10:00:00Z")));
  Registry twice = organization.state();
  REQUIRE(decode_snapshot(encode_snapshot(twice)).is_ok());
  twice.account_ids[twice.find_account(kMember)->index] = kPayer;
  refused = decode_snapshot(encode_snapshot(twice));
  CHECK_FAILS_WITH(refused.status(), Code::kDataLoss, Reason::kCorruptRecord);
  CHECK(refused.status().message().find("aggregate twice") != std::string::npos);
}

TEST_CASE("bill: a payer with no usage in the month has an empty bill") {
  Harness log = worked_example_organization();
  const Bill bill = bill_of(log, kPayer, "2026-10");
  CHECK(bill.lines.empty());
  CHECK(bill.total == 0);
  CHECK(bill.invoice_cents == 0);
}

// ---- Payer resolution from membership history --------------------------------------------------

TEST_CASE(
    "payer: an account that joins on the 10th pays its own usage before and the payer's "
    "after") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-09T00:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kOutsider, kTransfer, "100", "2026-10-05T00:00:00Z")));
  REQUIRE_OK(log.append(handshake_accepted("h-invite00001", "2026-10-10T00:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kOutsider, kTransfer, "300", "2026-10-15T00:00:00Z")));
  CHECK(line_of(bill_of(log, kOutsider, "2026-10"), kOutsider)->quantity == qty("100"));
  CHECK(line_of(bill_of(log, kPayer, "2026-10"), kOutsider)->quantity == qty("300"));
}

TEST_CASE("payer: a member that leaves mid-month pays its own usage from the leave on") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(usage_recorded(kMember, kTransfer, "10", "2026-10-18T00:00:00Z")));
  REQUIRE_OK(log.append(account_left(kMember, "2026-10-20T00:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kMember, kTransfer, "20", "2026-10-22T00:00:00Z")));
  CHECK(line_of(bill_of(log, kPayer, "2026-10"), kMember)->quantity == qty("10"));
  CHECK(line_of(bill_of(log, kMember, "2026-10"), kMember)->quantity == qty("20"));
}

TEST_CASE("payer: usage recorded after the account left goes to the payer of when it occurred") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(account_left(kMember, "2026-10-20T00:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kMember, kTransfer, "7", "2026-10-18T00:00:00Z")));
  CHECK(line_of(bill_of(log, kPayer, "2026-10"), kMember)->quantity == qty("7"));
  CHECK(bill_of(log, kMember, "2026-10").lines.empty());
}

// ---- Usage rules ------------------------------------------------------------------------------

TEST_CASE("usage: a usage type without a schedule for the month fails with UsageTypeNotPriced") {
  Harness log = worked_example_organization();
  CHECK_FAILS_WITH(
      log.append(usage_recorded(kPayer, "Lambda-GB-Second", "1", "2026-10-03T00:00:00Z")),
      Code::kFailedPrecondition, Reason::kUsageTypeNotPriced);
  // A schedule applies from its effective month on, not before.
  REQUIRE_OK(
      log.append(price_schedule_set("Lambda-GB-Second", "lambda", "GB-Second", "2026-11",
                                    {{std::nullopt, "0.0000166667"}}, "2026-10-01T00:00:00Z")));
  CHECK_FAILS_WITH(
      log.append(usage_recorded(kPayer, "Lambda-GB-Second", "1", "2026-10-31T23:59:59Z")),
      Code::kFailedPrecondition, Reason::kUsageTypeNotPriced);
  CHECK_OK(log.append(usage_recorded(kPayer, "Lambda-GB-Second", "1", "2026-11-01T00:00:00Z")));
}

TEST_CASE("usage: an unknown account fails with AccountNotFound") {
  Harness log = worked_example_organization();
  CHECK_FAILS_WITH(
      log.append(usage_recorded("999999999999", kTransfer, "1", "2026-10-03T00:00:00Z")),
      Code::kNotFound, Reason::kAccountNotFound);
}

TEST_CASE(
    "usage: UsagePrefetch gives each event's account and usage type, found ahead while usage is "
    "applied") {
  Harness log = worked_example_organization();
  // Events of the payer, the member, an unknown account, and of no account (not usage), more
  // than the prefetch runs ahead; every third names a usage type that has no price.
  const char* ids[] = {kPayer, kMember, "999999999999", ""};
  const char* types[] = {kTransfer, kTransfer, "Unpriced-Type"};
  std::vector<UsageAhead> usage;
  for (int i = 0; i < 41; ++i) {
    usage.push_back(UsageAhead{ids[i % 4], at("2026-10-03T10:00:00Z"), types[i % 3]});
  }
  const std::optional<uint32_t> transfer = log.state().billing.prices.number(kTransfer);
  REQUIRE(transfer);
  UsagePrefetch ahead(log.state(), usage);
  int64_t applied = 0;
  for (size_t i = 0; i < usage.size(); ++i) {
    const UsageFound found = ahead.found(i);
    if (i % 4 >= 2) {
      CHECK(found.account == nullptr);
      CHECK(!found.usage_type);
      continue;
    }
    REQUIRE(found.account == log.state().find_account(usage[i].account_id));
    CHECK(found.usage_type == (i % 3 == 2 ? std::nullopt : transfer));
    // The state changes between the lookups, as when the engine applies each event in turn.
    REQUIRE_OK(log.append(
        usage_recorded(std::string(usage[i].account_id), kTransfer, "1", "2026-10-03T10:00:00Z")));
    ++applied;
  }
  CHECK(bill_of(log, kPayer, "2026-10").usage_types[0].quantity == applied * qty("1"));
}

TEST_CASE("usage: each account keeps its own quantities, in id order, when usage is taken back") {
  Harness log = worked_example_organization();
  // The member's usage comes first, so it has the first row of the month's aggregates.
  const fb::EventT member_usage = usage_recorded(kMember, kTransfer, "7", "2026-10-03T00:00:00Z");
  REQUIRE_OK(log.append(member_usage));
  REQUIRE_OK(log.append(usage_recorded(kPayer, kTransfer, "5", "2026-10-04T00:00:00Z")));
  Bill bill = bill_of(log, kPayer, "2026-10");
  REQUIRE(bill.lines.size() == 2);
  CHECK(bill.lines[0].account_id == kPayer);
  CHECK(bill.lines[0].quantity == qty("5"));
  CHECK(bill.lines[1].account_id == kMember);
  CHECK(bill.lines[1].quantity == qty("7"));
  // The state's value does not depend on which account came first.
  Harness payer_first = worked_example_organization();
  REQUIRE_OK(payer_first.append(usage_recorded(kPayer, kTransfer, "5", "2026-10-04T00:00:00Z")));
  REQUIRE_OK(payer_first.append(member_usage));
  CHECK(digest(payer_first.state()) == digest(log.state()));
  CHECK(ledger_entries(payer_first.state()) == ledger_entries(log.state()));

  // Taking the member's usage back (as a refused request does) leaves it no line and no
  // aggregate: the state is the one without that usage.
  Registry state = log.state();
  const std::string bytes = pack_event(member_usage).bytes;
  unapply_usage(state, *flatbuffers::GetRoot<fb::Event>(bytes.data()), -1);
  log.restore(std::move(state));
  CHECK(log.state().billing.usage_entries() == 1);
  Harness without = worked_example_organization();
  REQUIRE_OK(without.append(usage_recorded(kPayer, kTransfer, "5", "2026-10-04T00:00:00Z")));
  CHECK(digest(log.state()) == digest(without.state()));
  bill = bill_of(log, kPayer, "2026-10");
  REQUIRE(bill.lines.size() == 1);
  CHECK(bill.lines[0].account_id == kPayer);

  // New usage of the member counts from nothing, and so does a decoded snapshot's.
  REQUIRE_OK(log.append(usage_recorded(kMember, kTransfer, "2", "2026-10-05T00:00:00Z")));
  auto decoded = decode_snapshot(encode_snapshot(log.state()));
  REQUIRE(decoded.is_ok());
  CHECK(digest(*decoded) == digest(log.state()));
  for (const Registry* each : std::vector<const Registry*>{&log.state(), &*decoded}) {
    auto again = compute_bill(*each, kPayer, parse_month("2026-10").value());
    REQUIRE(again.is_ok());
    REQUIRE(again->lines.size() == 2);
    CHECK(again->lines[1].account_id == kMember);
    CHECK(again->lines[1].quantity == qty("2"));
    CHECK(again->usage_types[0].quantity == qty("7"));
    CHECK(each->billing.usage_entries() == 2);
  }
}

TEST_CASE(
    "usage: validate takes the account and usage type found ahead only when they are the event's") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(price_schedule_set("Requests", "ec2", "Requests", "2026-09",
                                           {{std::nullopt, "0.0000004"}}, "2026-08-20T00:00:00Z")));
  const Account* payer = log.state().find_account(kPayer);
  const UsageTypes& types = log.state().billing.prices;
  const uint32_t transfer = types.number(kTransfer).value();
  const uint32_t requests = types.number("Requests").value();
  auto validated = [&](const fb::EventT& event, UsageLookup& lookup, UsageFound ahead) {
    const std::string bytes = pack_event(event).bytes;
    const EventContext context{1, event.occurred_at, "test", nullptr, &lookup, ahead};
    return validate(log.state(), *flatbuffers::GetRoot<fb::Event>(bytes.data()), context);
  };
  UsageLookup lookup;
  const UsageFound payers_transfer{payer, transfer};
  REQUIRE_OK(validated(usage_recorded(kMember, kTransfer, "1", "2026-10-03T10:00:00Z"), lookup,
                       payers_transfer));
  CHECK(lookup.account == log.state().find_account(kMember));
  CHECK_FAILS_WITH(validated(usage_recorded("999999999999", kTransfer, "1", "2026-10-03T10:00:00Z"),
                             lookup, payers_transfer),
                   Code::kNotFound, Reason::kAccountNotFound);
  REQUIRE_OK(validated(usage_recorded(kPayer, kTransfer, "1", "2026-10-03T10:00:00Z"), lookup,
                       payers_transfer));
  CHECK(lookup.account == payer);
  CHECK(lookup.usage_type == transfer);
  // A usage type number that is another type's, or no type's, is not taken.
  for (const uint32_t wrong : {transfer, static_cast<uint32_t>(types.size() + 7)}) {
    REQUIRE_OK(validated(usage_recorded(kPayer, "Requests", "1", "2026-10-03T10:00:00Z"), lookup,
                         UsageFound{payer, wrong}));
    CHECK(lookup.usage_type == requests);
    CHECK(lookup.schedule->usage_type == "Requests");
  }
  CHECK_FAILS_WITH(validated(usage_recorded(kPayer, "Unpriced-Type", "1", "2026-10-03T10:00:00Z"),
                             lookup, payers_transfer),
                   Code::kFailedPrecondition, Reason::kUsageTypeNotPriced);
}

TEST_CASE("usage: zero or negative quantities are refused") {
  Harness log = worked_example_organization();
  fb::EventT event = usage_recorded(kPayer, kTransfer, "1", "2026-10-03T00:00:00Z");
  event.body.AsUsageRecorded()->quantity = 0;
  CHECK_FAILS_WITH(log.append(event), Code::kInvalidArgument, Reason::kInvalidInput);
  event.body.AsUsageRecorded()->quantity = -5;
  CHECK_FAILS_WITH(log.append(event), Code::kInvalidArgument, Reason::kInvalidInput);
}

TEST_CASE(
    "usage: a closed account's usage before the close is billed, after it refused "
    "(AccountSuspended)") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(account_closed(kMember, "2026-10-10T00:00:00Z")));
  CHECK_OK(log.append(usage_recorded(kMember, kTransfer, "5", "2026-10-09T23:00:00Z")));
  CHECK_FAILS_WITH(log.append(usage_recorded(kMember, kTransfer, "5", "2026-10-10T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kAccountSuspended);
  CHECK(line_of(bill_of(log, kPayer, "2026-10"), kMember)->quantity == qty("5"));
}

// ---- Price schedules --------------------------------------------------------------------------

TEST_CASE("prices: a later schedule replaces the earlier one from its effective month") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(price_schedule_set(kTransfer, "ec2", "GB", "2026-11",
                                           {{std::nullopt, "0.05"}}, "2026-10-20T00:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kPayer, kTransfer, "100", "2026-10-21T00:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kPayer, kTransfer, "100", "2026-11-02T00:00:00Z")));
  CHECK(bill_of(log, kPayer, "2026-10").total == usd("17"));
  CHECK(bill_of(log, kPayer, "2026-11").total == usd("5"));
}

TEST_CASE("prices: tiers must rise strictly and end unbounded (InvalidPriceSchedule)") {
  Harness log = worked_example_organization();
  CHECK_FAILS_WITH(
      log.append(price_schedule_set("X", "ec2", "GB", "2026-11",
                                    {{"100", "1"}, {"100", "0.5"}, {std::nullopt, "0.1"}},
                                    "2026-10-20T00:00:00Z")),
      Code::kInvalidArgument, Reason::kInvalidPriceSchedule);
  CHECK_FAILS_WITH(log.append(price_schedule_set("X", "ec2", "GB", "2026-11", {{"100", "1"}},
                                                 "2026-10-20T00:00:00Z")),
                   Code::kInvalidArgument, Reason::kInvalidPriceSchedule);
  CHECK_FAILS_WITH(log.append(price_schedule_set("X", "ec2", "GB", "2026-11",
                                                 {{std::nullopt, "1"}, {std::nullopt, "2"}},
                                                 "2026-10-20T00:00:00Z")),
                   Code::kInvalidArgument, Reason::kInvalidPriceSchedule);
  CHECK_FAILS_WITH(
      log.append(price_schedule_set("X", "ec2", "GB", "2026-11", {}, "2026-10-20T00:00:00Z")),
      Code::kInvalidArgument, Reason::kInvalidPriceSchedule);
}

TEST_CASE("prices and usage: usage types and services are tokens, or InvalidInput") {
  Harness log = worked_example_organization();
  auto price = [&](const std::string& usage_type, const std::string& service) {
    return log.append(price_schedule_set(usage_type, service, "GB", "2026-11",
                                         {{std::nullopt, "0.05"}}, "2026-10-20T00:00:00Z"));
  };
  // A usage type: 1 to 128 of letters, digits and -_.:/; a service: 1 to 64 of lower-case
  // letters, digits and -.
  REQUIRE_OK(price("Az-09_.:/type", "ec2-east-1"));
  REQUIRE_OK(price(std::string(128, 'T'), std::string(64, 's')));
  for (const std::string& bad :
       {std::string(), std::string(129, 'T'), std::string("has space"), std::string("at@sign"),
        std::string("caf\xc3\xa9"), std::string("nul\0byte", 8), std::string("back\\slash")}) {
    CAPTURE(bad);
    CHECK_FAILS_WITH(price(bad, "ec2"), Code::kInvalidArgument, Reason::kInvalidInput);
  }
  for (const std::string& bad :
       {std::string(), std::string(65, 's'), std::string("EC2"), std::string("ec2_east"),
        std::string("ec2.east"), std::string("ec2/east"), std::string("ec2:east")}) {
    CAPTURE(bad);
    CHECK_FAILS_WITH(price("Fine", bad), Code::kInvalidArgument, Reason::kInvalidInput);
  }
  // Usage of a type that is no token is refused as input, before its price is looked up.
  CHECK_FAILS_WITH(log.append(usage_recorded(kPayer, "no such/type?", "1", "2026-11-03T00:00:00Z")),
                   Code::kInvalidArgument, Reason::kInvalidInput);
  CHECK_OK(log.append(usage_recorded(kPayer, "Az-09_.:/type", "1", "2026-11-03T00:00:00Z")));
}

TEST_CASE("ledger keys: the bytes docs/format.md gives for each key and quantity") {
  using std::string_literals::operator""s;
  const Month october = parse_month("2026-10").value();  // 202610 = 0x00031772
  CHECK(ledger_keys::usage_key("111111111111", october, "DataTransfer-Out-Bytes", "222222222222") ==
        "u111111111111\0\x00\x03\x17\x72"s + "DataTransfer-Out-Bytes\0"s + "222222222222");
  CHECK(ledger_keys::usage_key("", october, "", "") == "u\0\x00\x03\x17\x72\0"s);
  CorrectionKey correction;
  correction.payer_id = "111111111111";
  correction.target = parse_month("2026-11").value();  // 202611 = 0x00031773
  correction.origin = october;
  correction.usage_type = "Requests";
  correction.account_id = "222222222222";
  CHECK(ledger_keys::correction_key(correction) ==
        "c111111111111\0\x00\x03\x17\x73\x00\x03\x17\x72"s + "Requests\0"s + "222222222222");
  CHECK(ledger_keys::frozen_bill_key("111111111111", october) ==
        "b111111111111\0\x00\x03\x17\x72"s);
  // Quantities: 8 bytes, big-endian two's complement.
  CHECK(ledger_keys::encode_quantity(0) == std::string(8, '\0'));
  CHECK(ledger_keys::encode_quantity(0x0102030405060708) == "\x01\x02\x03\x04\x05\x06\x07\x08"s);
  CHECK(ledger_keys::encode_quantity(-2) == "\xff\xff\xff\xff\xff\xff\xff\xfe"s);
  CHECK(ledger_keys::encode_quantity(std::numeric_limits<int64_t>::min()) == "\x80\0\0\0\0\0\0\0"s);
}

TEST_CASE("prices: a schedule for a closed month fails with PeriodClosed") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(billing_period_closed("2026-10", "2026-11-01T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(price_schedule_set(kTransfer, "ec2", "GB", "2026-10",
                                                 {{std::nullopt, "0.01"}}, "2026-11-02T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kPeriodClosed);
}

// ---- Period close, frozen bills and corrections -----------------------------------------------

TEST_CASE("close: a month closes only once it has ended (PeriodNotEnded)") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(usage_recorded(kPayer, kTransfer, "1", "2026-10-03T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(billing_period_closed("2026-10", "2026-10-31T23:59:59Z")),
                   Code::kFailedPrecondition, Reason::kPeriodNotEnded);
  CHECK_OK(log.append(billing_period_closed("2026-10", "2026-11-01T00:00:00Z")));
}

TEST_CASE("close: months close in order (PeriodCloseOutOfOrder), once (PeriodClosed)") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(usage_recorded(kPayer, kTransfer, "1", "2026-09-03T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(billing_period_closed("2026-10", "2026-11-01T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kPeriodCloseOutOfOrder);
  REQUIRE_OK(log.append(billing_period_closed("2026-09", "2026-11-01T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(billing_period_closed("2026-11", "2026-12-01T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kPeriodCloseOutOfOrder);
  CHECK_FAILS_WITH(log.append(billing_period_closed("2026-09", "2026-12-01T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kPeriodClosed);
  CHECK_OK(log.append(billing_period_closed("2026-10", "2026-12-01T00:00:00Z")));
}

TEST_CASE(
    "close: late usage becomes a correction in the next open month, the closed bill stays "
    "byte-identical") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(usage_recorded(kPayer, kTransfer, "10000", "2026-10-03T00:00:00Z")));
  REQUIRE_OK(log.append(billing_period_closed("2026-10", "2026-11-01T00:00:00Z")));
  const std::string frozen = bill_to_json(bill_of(log, kPayer, "2026-10"));
  CHECK(bill_of(log, kPayer, "2026-10").closed);

  // 500 GB of October arrive in November: C(10,500) - C(10,000) = 1,774.60 - 1,700.00.
  REQUIRE_OK(log.append(usage_recorded(kMember, kTransfer, "500", "2026-10-20T00:00:00Z")));
  CHECK(bill_to_json(bill_of(log, kPayer, "2026-10")) == frozen);
  const Bill november = bill_of(log, kPayer, "2026-11");
  REQUIRE(november.corrections.size() == 1);
  CHECK(november.corrections[0].account_id == kMember);
  CHECK(november.corrections[0].origin_month == 202610);
  CHECK(november.corrections[0].amount == usd("74.6"));
  CHECK(november.corrections_total == usd("74.6"));
  CHECK(november.total == usd("74.6"));
  CHECK(member_of(november, kMember)->invoice_cents == 7460);

  // A second late batch after November closed lands in December, priced on top of the first.
  REQUIRE_OK(log.append(billing_period_closed("2026-11", "2026-12-01T00:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kPayer, kTransfer, "100", "2026-10-21T00:00:00Z")));
  CHECK(bill_of(log, kPayer, "2026-12").corrections_total == usd("13"));
  CHECK(bill_to_json(bill_of(log, kPayer, "2026-10")) == frozen);
}

TEST_CASE("close: a correction is split between the late accounts by largest remainder") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(billing_period_closed("2026-09", "2026-10-01T00:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kPayer, kTransfer, "0.000001", "2026-09-20T00:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kMember, kTransfer, "0.000002", "2026-09-21T00:00:00Z")));
  const Bill october = bill_of(log, kPayer, "2026-10");
  REQUIRE(october.corrections.size() == 2);
  int64_t sum = 0;
  for (const CorrectionLine& line : october.corrections) sum += line.amount;
  CHECK(sum == october.corrections_total);
}

// ---- Credits ----------------------------------------------------------------------------------

TEST_CASE(
    "credits: a member's credit goes to its own charges first, then to the others by "
    "descending charge") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(usage_recorded(kPayer, kTransfer, "8192", "2026-10-03T10:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kMember, kTransfer, "4096", "2026-10-05T10:00:00Z")));
  REQUIRE_OK(
      log.append(credit_granted("promo-1", kMember, "1000", std::nullopt, "2026-10-06T00:00:00Z")));
  const Bill bill = bill_of(log, kPayer, "2026-10");
  REQUIRE(bill.credits.size() == 2);
  CHECK(bill.credits[0].applied_account_id == kMember);
  CHECK(bill.credits[0].amount == usd("669.013333333"));
  CHECK(bill.credits[1].applied_account_id == kPayer);
  CHECK(bill.credits[1].amount == usd("330.986666667"));
  CHECK(bill.total == usd("1007.04"));
  CHECK(member_of(bill, kMember)->total == 0);
}

TEST_CASE(
    "credits: with sharing off a credit reaches only its own account, the rest carries "
    "over") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(credit_sharing_set(kOrg, false, "2026-10-01T00:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kPayer, kTransfer, "8192", "2026-10-03T10:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kMember, kTransfer, "4096", "2026-10-05T10:00:00Z")));
  REQUIRE_OK(
      log.append(credit_granted("promo-1", kMember, "1000", std::nullopt, "2026-10-06T00:00:00Z")));
  const Bill october = bill_of(log, kPayer, "2026-10");
  REQUIRE(october.credits.size() == 1);
  CHECK(october.credits[0].amount == usd("669.013333333"));
  CHECK(member_of(october, kPayer)->credits == 0);
  // November sees the balance left, whether October is closed or still open.
  REQUIRE_OK(log.append(usage_recorded(kMember, kTransfer, "4096", "2026-11-05T10:00:00Z")));
  CHECK(bill_of(log, kPayer, "2026-11").credits_total == usd("330.986666667"));
  REQUIRE_OK(log.append(billing_period_closed("2026-10", "2026-11-06T00:00:00Z")));
  CHECK(bill_of(log, kPayer, "2026-11").credits_total == usd("330.986666667"));
  CHECK(log.state().billing.credits.at("promo-1").consumed == usd("669.013333333"));
}

TEST_CASE("credits: soonest-expiring first, then oldest grant") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(usage_recorded(kPayer, kTransfer, "1000", "2026-10-03T10:00:00Z")));
  REQUIRE_OK(log.append(
      credit_granted("old-forever", kPayer, "10", std::nullopt, "2026-10-04T00:00:00Z")));
  REQUIRE_OK(
      log.append(credit_granted("expires-dec", kPayer, "10", "2026-12", "2026-10-05T00:00:00Z")));
  REQUIRE_OK(
      log.append(credit_granted("older-dec", kPayer, "10", "2026-12", "2026-10-04T12:00:00Z")));
  const Bill bill = bill_of(log, kPayer, "2026-10");
  REQUIRE(bill.credits.size() == 3);
  CHECK(bill.credits[0].credit_id == "older-dec");
  CHECK(bill.credits[1].credit_id == "expires-dec");
  CHECK(bill.credits[2].credit_id == "old-forever");
}

TEST_CASE("credits: an expired credit no longer applies") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(
      credit_granted("october-only", kPayer, "1000", "2026-10", "2026-10-01T00:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kPayer, kTransfer, "100", "2026-10-03T10:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kPayer, kTransfer, "100", "2026-11-03T10:00:00Z")));
  CHECK(bill_of(log, kPayer, "2026-10").credits_total == usd("17"));
  CHECK(bill_of(log, kPayer, "2026-11").credits_total == 0);
  CHECK(bill_of(log, kPayer, "2026-11").total == usd("17"));
}

TEST_CASE("credits: a credit never takes a charge below zero") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(usage_recorded(kPayer, kTransfer, "100", "2026-10-03T10:00:00Z")));
  REQUIRE_OK(
      log.append(credit_granted("huge", kPayer, "1000000", std::nullopt, "2026-10-04T00:00:00Z")));
  const Bill bill = bill_of(log, kPayer, "2026-10");
  CHECK(bill.credits_total == usd("17"));
  CHECK(bill.total == 0);
  CHECK(bill.invoice_cents == 0);
}

TEST_CASE("credits: a credit id is granted once (DuplicateCredit)") {
  Harness log = worked_example_organization();
  REQUIRE_OK(
      log.append(credit_granted("promo-1", kPayer, "10", std::nullopt, "2026-10-04T00:00:00Z")));
  CHECK_FAILS_WITH(
      log.append(credit_granted("promo-1", kMember, "10", std::nullopt, "2026-10-05T00:00:00Z")),
      Code::kAlreadyExists, Reason::kDuplicateCredit);
}

TEST_CASE("credits: unknown account, zero amount and expiry before the first month are refused") {
  Harness log = worked_example_organization();
  CHECK_FAILS_WITH(
      log.append(credit_granted("c-1", "999999999999", "10", std::nullopt, "2026-10-04T00:00:00Z")),
      Code::kNotFound, Reason::kAccountNotFound);
  CHECK_FAILS_WITH(
      log.append(credit_granted("c-2", kPayer, "0", std::nullopt, "2026-10-04T00:00:00Z")),
      Code::kInvalidArgument, Reason::kInvalidInput);
  CHECK_FAILS_WITH(
      log.append(credit_granted("c-3", kPayer, "10", "2026-09", "2026-10-04T00:00:00Z")),
      Code::kInvalidArgument, Reason::kInvalidInput);
}

TEST_CASE("credits: sharing on an unknown organization fails with AWSOrganizationsNotInUse") {
  Harness log = worked_example_organization();
  CHECK_FAILS_WITH(log.append(credit_sharing_set("o-doesnotexist", false, "2026-10-04T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kAWSOrganizationsNotInUse);
}

// ---- Exactness and overflow -------------------------------------------------------------------

TEST_CASE("exact: 0.1 + 0.2 units at $1 cost exactly $0.30") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(price_schedule_set("Unit", "ec2", "unit", "2026-10", {{std::nullopt, "1"}},
                                           "2026-09-20T00:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kPayer, "Unit", "0.1", "2026-10-03T00:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kPayer, "Unit", "0.2", "2026-10-04T00:00:00Z")));
  CHECK(bill_of(log, kPayer, "2026-10").total == usd("0.3"));
}

TEST_CASE("exact: the maximum decimals of quantity and price, rounded half to even once") {
  // 1.000001 x 0.123456789012 = 0.123456912468789012 USD -> 0.123456912 (nano, half to even).
  CHECK(tiered_cost({{std::nullopt, 123'456'789'012}}, 1'000'001).value() == 123'456'912);
  // 1 unit at 0.5 nano rounds to 0 (even); at 1.5 nano to 2; at 2.5 nano to 2.
  CHECK(tiered_cost({{std::nullopt, 500}}, 1'000'000).value() == 0);
  CHECK(tiered_cost({{std::nullopt, 1'500}}, 1'000'000).value() == 2);
  CHECK(tiered_cost({{std::nullopt, 2'500}}, 1'000'000).value() == 2);
  // One micro-unit at one picodollar is 1e-18 USD: exactly zero nano.
  CHECK(tiered_cost({{std::nullopt, 1}}, 1).value() == 0);
}

TEST_CASE("exact: largest remainder shares add up and break ties to the lower index") {
  CHECK(split_largest_remainder(10, {1, 1, 1}) == std::vector<int64_t>{4, 3, 3});
  CHECK(split_largest_remainder(2, {1, 1, 1}) == std::vector<int64_t>{1, 1, 0});
  CHECK(split_largest_remainder(0, {0, 0}) == std::vector<int64_t>{0, 0});
  CHECK(split_largest_remainder(INT64_MAX, {INT64_MAX, 1}) ==
        std::vector<int64_t>{INT64_MAX - 1, 1});
}

TEST_CASE("overflow: a cost beyond int64 nano-USD is refused with AmountOverflow") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(price_schedule_set("Expensive", "ec2", "unit", "2026-10",
                                           {{std::nullopt, "1000000"}}, "2026-09-20T00:00:00Z")));
  CHECK_OK(log.append(usage_recorded(kPayer, "Expensive", "9000", "2026-10-03T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(usage_recorded(kPayer, "Expensive", "1000", "2026-10-04T00:00:00Z")),
                   Code::kInvalidArgument, Reason::kAmountOverflow);
  CHECK(bill_of(log, kPayer, "2026-10").total == usd("9000000000"));
}

TEST_CASE("overflow: a total quantity beyond int64 is refused with AmountOverflow") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(price_schedule_set("Free", "ec2", "unit", "2026-10", {{std::nullopt, "0"}},
                                           "2026-09-20T00:00:00Z")));
  CHECK_OK(log.append(usage_recorded(kPayer, "Free", "9000000000000", "2026-10-03T00:00:00Z")));
  CHECK_FAILS_WITH(
      log.append(usage_recorded(kMember, "Free", "9000000000000", "2026-10-04T00:00:00Z")),
      Code::kInvalidArgument, Reason::kAmountOverflow);
}

TEST_CASE("overflow: the month's usage across usage types must fit as well") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(price_schedule_set("A", "ec2", "unit", "2026-10",
                                           {{std::nullopt, "1000000"}}, "2026-09-20T00:00:00Z")));
  REQUIRE_OK(log.append(price_schedule_set("B", "ec2", "unit", "2026-10",
                                           {{std::nullopt, "1000000"}}, "2026-09-20T00:00:00Z")));
  CHECK_OK(log.append(usage_recorded(kPayer, "A", "5000", "2026-10-03T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(usage_recorded(kPayer, "B", "5000", "2026-10-03T00:00:00Z")),
                   Code::kInvalidArgument, Reason::kAmountOverflow);
}

TEST_CASE(
    "overflow: the month's check prices the other usage types as they are now priced, also "
    "after a price change and from a snapshot") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(price_schedule_set("A", "ec2", "unit", "2026-10", {{std::nullopt, "1"}},
                                           "2026-09-20T00:00:00Z")));
  REQUIRE_OK(log.append(price_schedule_set("B", "ec2", "unit", "2026-10",
                                           {{std::nullopt, "1000000"}}, "2026-09-20T00:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kPayer, "A", "5000", "2026-10-03T00:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kMember, "B", "4000", "2026-10-03T00:00:00Z")));
  // A's 5,000 units now cost $5,000,000,000: with B's $4,000,000,000 the month is at $9e9 of
  // the $9,223,372,036.854775807 that int64 nano-USD holds.
  REQUIRE_OK(log.append(price_schedule_set("A", "ec2", "unit", "2026-10",
                                           {{std::nullopt, "1000000"}}, "2026-10-05T00:00:00Z")));
  const fb::EventT too_much = usage_recorded(kMember, "B", "300", "2026-10-06T00:00:00Z");
  const fb::EventT enough = usage_recorded(kMember, "B", "200", "2026-10-06T00:00:00Z");
  CHECK_FAILS_WITH(log.append(too_much), Code::kInvalidArgument, Reason::kAmountOverflow);

  auto decoded = decode_snapshot(encode_snapshot(log.state()));
  REQUIRE(decoded.is_ok());
  CHECK(digest(*decoded) == digest(log.state()));
  Harness restored = log;
  restored.restore(std::move(*decoded));
  CHECK_FAILS_WITH(restored.append(too_much), Code::kInvalidArgument, Reason::kAmountOverflow);

  // A price cut makes room again.
  REQUIRE_OK(log.append(price_schedule_set("A", "ec2", "unit", "2026-10", {{std::nullopt, "1"}},
                                           "2026-10-05T12:00:00Z")));
  CHECK_OK(log.append(too_much));
  CHECK_OK(restored.append(enough));
  CHECK(bill_of(restored, kPayer, "2026-10").total == usd("9200000000"));
}

TEST_CASE(
    "payer: a membership change may not be backdated behind recorded usage "
    "(TimestampOutOfOrder)") {
  Harness log = worked_example_organization();
  REQUIRE_OK(log.append(account_invited("h-invite00001", kOrg, kOutsider, "2026-10-01T00:00:00Z")));
  REQUIRE_OK(log.append(usage_recorded(kOutsider, kTransfer, "1", "2026-10-15T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(handshake_accepted("h-invite00001", "2026-10-12T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kTimestampOutOfOrder);
  CHECK_FAILS_WITH(log.append(account_closed(kOutsider, "2026-10-15T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kTimestampOutOfOrder);
  CHECK_OK(log.append(handshake_accepted("h-invite00001", "2026-10-15T00:00:01Z")));
  // Its recorded usage stays with the payer of when it occurred.
  CHECK(line_of(bill_of(log, kOutsider, "2026-10"), kOutsider)->quantity == qty("1"));
  REQUIRE_OK(log.append(usage_recorded(kOutsider, kTransfer, "2", "2026-10-20T00:00:00Z")));
  CHECK_FAILS_WITH(log.append(account_left(kOutsider, "2026-10-19T00:00:00Z")),
                   Code::kFailedPrecondition, Reason::kTimestampOutOfOrder);
}
