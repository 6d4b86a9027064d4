// The JSON Lines form of events: exact decimals, strict fields.
#include "projections/event_json.h"

#include <doctest/doctest.h>

#include <fstream>

#include "projections/values.h"
#include "tests/support/status_matchers.h"

using namespace orgledger;

namespace {
Status parse_error(std::string_view line) {
  JsonEventParser parser;
  auto parsed = parser.parse(line);
  return parsed.is_ok() ? Status::ok() : parsed.status();
}
}  // namespace

TEST_CASE("json: DESIGN.md's OrganizationCreated line parses, with a derived root id") {
  JsonEventParser parser;
  auto parsed = parser.parse(
      R"({"type":"OrganizationCreated","org_id":"o-exampleorg1","management_account_id":"111111111111","feature_set":"ALL","occurred_at":"2026-10-01T00:00:00Z"})");
  REQUIRE(parsed.is_ok());
  const auto* body = parsed->event.body.AsOrganizationCreated();
  REQUIRE(body != nullptr);
  CHECK(body->org_id == "o-exampleorg1");
  CHECK(body->root_id == "r-exampleorg1");
  CHECK(body->management_account_id == "111111111111");
  CHECK(parsed->event.occurred_at == parse_time("2026-10-01T00:00:00Z").value());
  CHECK_FALSE(parsed->event_id.has_value());
}

TEST_CASE("json: usage quantities are exact micro-units, an explicit event_id is kept") {
  JsonEventParser parser;
  auto parsed = parser.parse(
      R"({"type":"UsageRecorded","event_id":"3f0c0000000000000000000000000001","account_id":"222222222222","usage_type":"DataTransfer-Out-GB","quantity":"4096.5","occurred_at":"2026-10-03T10:00:00Z"})");
  REQUIRE(parsed.is_ok());
  CHECK(parsed->event.body.AsUsageRecorded()->quantity == 4'096'500'000);
  REQUIRE(parsed->event_id.has_value());
  CHECK((*parsed->event_id)[0] == 0x3f);
  CHECK((*parsed->event_id)[15] == 0x01);
}

TEST_CASE("json: a JSON integer is an exact decimal too") {
  JsonEventParser parser;
  auto parsed = parser.parse(
      R"({"type":"UsageRecorded","account_id":"222222222222","usage_type":"X","quantity":4096,"occurred_at":"2026-10-03T10:00:00Z"})");
  REQUIRE(parsed.is_ok());
  CHECK(parsed->event.body.AsUsageRecorded()->quantity == 4'096'000'000);
}

TEST_CASE("json: price tiers parse at picodollar scale, the last without up_to") {
  JsonEventParser parser;
  auto parsed = parser.parse(
      R"({"type":"PriceScheduleSet","usage_type":"DataTransfer-Out-GB","service":"ec2","unit":"GB","effective_month":"2026-01","tiers":[{"up_to":"10240","unit_price":"0.17"},{"unit_price":"0.13"}],"occurred_at":"2025-12-15T00:00:00Z"})");
  REQUIRE(parsed.is_ok());
  const auto* body = parsed->event.body.AsPriceScheduleSet();
  REQUIRE(body->tiers.size() == 2);
  CHECK(body->tiers[0]->up_to.value() == 10'240'000'000);
  CHECK(body->tiers[0]->unit_price == 170'000'000'000);
  CHECK_FALSE(body->tiers[1]->up_to.has_value());
  CHECK(body->effective_month == 202601);
}

TEST_CASE("json: the shared price catalogue's first line parses") {
  JsonEventParser parser;
  auto parsed = parser.parse(
      R"({"type": "PriceScheduleSet", "usage_type": "S3-Requests-Tier2", "service": "s3", "unit": "Requests", "effective_month": "2026-01", "tiers": [{"unit_price": "0.0000004"}], "occurred_at": "2025-12-15T00:00:00Z"})");
  REQUIRE(parsed.is_ok());
  CHECK(parsed->event.body.AsPriceScheduleSet()->tiers[0]->unit_price == 400'000);
}

TEST_CASE("json: an exponent in a decimal string is refused") {
  const Status status = parse_error(
      R"({"type":"UsageRecorded","account_id":"222222222222","usage_type":"X","quantity":"1e3","occurred_at":"2026-10-03T10:00:00Z"})");
  CHECK(status.code() == Code::kInvalidArgument);
  CHECK(status.message().find("quantity") != std::string::npos);
}

TEST_CASE("json: a JSON float where an exact decimal is required is refused") {
  for (const char* quantity : {"0.5", "1e3", "4096.0"}) {
    INFO("quantity: ", quantity);
    const Status status = parse_error(
        std::string(
            R"({"type":"UsageRecorded","account_id":"222222222222","usage_type":"X","quantity":)") +
        quantity + R"(,"occurred_at":"2026-10-03T10:00:00Z"})");
    CHECK(status.code() == Code::kInvalidArgument);
    CHECK(status.message().find("quantity") != std::string::npos);
  }
}

TEST_CASE("json: quantities and amounts beyond int64, malformed text and bad bytes are refused") {
  auto usage = [](std::string_view quantity, std::string_view when = "2026-10-03T10:00:00Z") {
    return parse_error(
        std::string(R"({"type":"UsageRecorded","account_id":"222222222222","usage_type":"X",)") +
        R"("quantity":")" + std::string(quantity) + R"(","occurred_at":")" + std::string(when) +
        R"("})");
  };
  auto credit = [](std::string_view amount) {
    return parse_error(std::string(R"({"type":"CreditGranted","credit_id":"c1",)") +
                       R"("account_id":"222222222222","amount":")" + std::string(amount) +
                       R"(","occurred_at":"2026-10-03T10:00:00Z"})");
  };
  // At the limit: int64-max micro-units and nano-USD parse; one more does not.
  CHECK(usage("9223372036854.775807").is_ok());
  CHECK(credit("9223372036.854775807").is_ok());
  for (std::string_view beyond :
       {"9223372036854.775808", "99999999999999999999999", "-9223372036854.775809", "1.0000001"}) {
    INFO("quantity: ", std::string(beyond));
    const Status status = usage(beyond);
    CHECK(status.code() == Code::kInvalidArgument);
    CHECK(status.message().find("quantity") != std::string::npos);
  }
  CHECK_FALSE(credit("9223372036.854775808").is_ok());
  CHECK_FALSE(credit("1.0000000001").is_ok());
  for (std::string_view when : {"2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                                "2026-10-03 10:00:00", "2026-10-03T25:00:00Z", "yesterday", ""}) {
    INFO("occurred_at: ", std::string(when));
    CHECK(usage("1", when).code() == Code::kInvalidArgument);
  }
  // Invalid UTF-8 anywhere in a line is refused before any field is read.
  for (std::string_view bad : {"\xff", "\xc3\x28", "\xed\xa0\x80", "\xf0\x28\x8c\x28"}) {
    const Status status = parse_error(
        std::string(
            R"({"type":"AccountCreated","account_id":"333333333333","email":"a@b.example",)") +
        R"("name":")" + std::string(bad) + R"(","occurred_at":"2026-10-01T00:00:00Z"})");
    CHECK(status.code() == Code::kInvalidArgument);
  }
}

TEST_CASE("json: unknown types, unknown fields and duplicated fields are refused") {
  CHECK(
      parse_error(
          R"({"type":"AccountTeleported","account_id":"111111111111","occurred_at":"2026-10-01T00:00:00Z"})")
          .message()
          .find("unknown event type") != std::string::npos);
  CHECK(
      parse_error(
          R"({"type":"AccountLeft","account_id":"111111111111","acount":"x","occurred_at":"2026-10-01T00:00:00Z"})")
          .message()
          .find("unknown field") != std::string::npos);
  CHECK(
      parse_error(
          R"({"type":"AccountLeft","account_id":"111111111111","account_id":"222222222222","occurred_at":"2026-10-01T00:00:00Z"})")
          .message()
          .find("duplicated field") != std::string::npos);
}

TEST_CASE("json: missing fields, wrong types, bad times and non-objects are refused") {
  CHECK_FALSE(
      parse_error(R"({"type":"AccountLeft","occurred_at":"2026-10-01T00:00:00Z"})").is_ok());
  CHECK_FALSE(
      parse_error(
          R"({"type":"AccountLeft","account_id":111111111111,"occurred_at":"2026-10-01T00:00:00Z"})")
          .is_ok());
  CHECK_FALSE(
      parse_error(
          R"({"type":"AccountLeft","account_id":"111111111111","occurred_at":"2026-10-01"})")
          .is_ok());
  CHECK_FALSE(parse_error(R"({"type":"AccountLeft","account_id":"111111111111"})").is_ok());
  CHECK_FALSE(parse_error(R"(["AccountLeft"])").is_ok());
  CHECK_FALSE(parse_error(R"({"type":"AccountLeft",)").is_ok());
  CHECK_FALSE(parse_error("{\"type\":\"AccountLeft\",\"account_id\":\"\xff\",\"occurred_at\":"
                          "\"2026-10-01T00:00:00Z\"}")
                  .is_ok());
  CHECK_FALSE(
      parse_error(
          R"({"type":"AccountQuotaSet","org_id":"o-exampleorg1","max_accounts":0,"occurred_at":"2026-10-01T00:00:00Z"})")
          .is_ok());
  CHECK_FALSE(
      parse_error(
          R"({"type":"AccountLeft","event_id":"xyz","account_id":"111111111111","occurred_at":"2026-10-01T00:00:00Z"})")
          .is_ok());
}

TEST_CASE("json: every line of the examples survives render then parse unchanged") {
  JsonEventParser parser;
  size_t lines = 0;
  for (const char* file : {"management_account.jsonl", "org_history.jsonl", "worked_example.jsonl",
                           "price_catalogue.jsonl", "org_policies.jsonl", "october_usage.jsonl"}) {
    std::ifstream in(std::string(ORGLEDGER_EXAMPLES_DIR) + "/" + file);
    REQUIRE(in.good());
    std::string line;
    while (std::getline(in, line)) {
      auto parsed = parser.parse(line);
      REQUIRE(parsed.is_ok());
      flatbuffers::FlatBufferBuilder builder;
      builder.Finish(fb::Event::Pack(builder, &parsed->event));
      const EventIdBytes id{1, 2, 3};
      const std::string rendered =
          event_to_json(*flatbuffers::GetRoot<fb::Event>(builder.GetBufferPointer()), id);
      auto again = parser.parse(rendered);
      INFO("line: ", line, "\nrendered: ", rendered);
      REQUIRE(again.is_ok());
      CHECK(again->event == parsed->event);
      CHECK(again->event_id == id);
      ++lines;
    }
  }
  CHECK(lines == 2 + 13 + 5 + 22 + 8 + 407);  // every line of the six files
}

TEST_CASE("json: PasswordSet and MfaEnabled carry their secret beside the stored fact") {
  JsonEventParser parser;
  auto password = parser.parse(
      R"({"type":"PasswordSet","account_id":"111111111111","password":"Example-Corp-2026!"})");
  REQUIRE(password.is_ok());
  CHECK(password->event.body.type == fb::EventBody::PasswordChanged);
  REQUIRE(password->secret.has_value());
  CHECK(password->secret->password == "Example-Corp-2026!");
  CHECK_FALSE(password->occurred_at_given);
  // The fact renders without the secret.
  flatbuffers::FlatBufferBuilder builder;
  builder.Finish(fb::Event::Pack(builder, &password->event));
  const std::string rendered =
      event_to_json(*flatbuffers::GetRoot<fb::Event>(builder.GetBufferPointer()), EventIdBytes{});
  CHECK(rendered.find("Example-Corp-2026!") == std::string::npos);
  CHECK(rendered.find("\"type\":\"PasswordChanged\"") != std::string::npos);

  auto mfa = parser.parse(R"({"type":"MfaEnabled","account_id":"111111111111","device_id":"phone",)"
                          R"("totp_seed":"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP","code":"123456",)"
                          R"("occurred_at":"2026-11-26T00:00:00Z"})");
  REQUIRE(mfa.is_ok());
  REQUIRE(mfa->secret.has_value());
  CHECK(mfa->secret->totp_seed == "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
  CHECK(mfa->secret->code == "123456");
  CHECK(mfa->occurred_at_given);
  // The fact alone (as `tail` prints it) parses too, without a secret.
  auto fact =
      parser.parse(R"({"type":"MfaEnabled","account_id":"111111111111","device_id":"phone",)"
                   R"("occurred_at":"2026-11-26T00:00:00Z"})");
  REQUIRE(fact.is_ok());
  CHECK_FALSE(fact->secret.has_value());
  CHECK_FAILS_WITH(parser
                       .parse(R"({"type":"MfaEnabled","account_id":"111111111111",)"
                              R"("device_id":"phone","totp_seed":"JBSWY3DP"})")
                       .status(),
                   Code::kInvalidArgument, Reason::kInvalidInput);
  CHECK_FAILS_WITH(parser.parse(R"({"type":"PasswordSet","account_id":"111111111111"})").status(),
                   Code::kInvalidArgument, Reason::kInvalidInput);
  CHECK_FAILS_WITH(parser
                       .parse(R"({"type":"PasswordSet","account_id":"111111111111",)"
                              R"("password":"x","extra":1})")
                       .status(),
                   Code::kInvalidArgument, Reason::kInvalidInput);
}
