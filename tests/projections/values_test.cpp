// Exact decimals, times and months, and identifier patterns.
#include "projections/values.h"

#include <doctest/doctest.h>

using namespace orgledger;

TEST_CASE("decimal: parses exactly at the unit's scale") {
  CHECK(parse_decimal("0.17", kUnitPriceScale).value() == 170'000'000'000);
  CHECK(parse_decimal("8192", kQuantityScale).value() == 8'192'000'000);
  CHECK(parse_decimal("12.000001", kQuantityScale).value() == 12'000'001);
  CHECK(parse_decimal("0", kQuantityScale).value() == 0);
  CHECK(parse_decimal("9223372036854.775807", kQuantityScale).value() == INT64_MAX);
}

TEST_CASE("decimal: more fractional digits than the scale is refused, never rounded") {
  auto result = parse_decimal("0.0000001", kQuantityScale);
  REQUIRE_FALSE(result.is_ok());
  CHECK(result.status().code() == Code::kInvalidArgument);
}

TEST_CASE("decimal: exponents, signs, spaces and malformed text are refused") {
  for (const char* bad : {"1e3", "1E3", "-1", "+1", " 1", "1 ", ".5", "5.", "", "0x10", "1,000",
                          "01", "1.2.3", "NaN", "inf"}) {
    INFO("text: ", bad);
    CHECK_FALSE(parse_decimal(bad, kQuantityScale).is_ok());
  }
}

TEST_CASE("decimal: values beyond int64 are refused, not wrapped") {
  CHECK_FALSE(parse_decimal("9223372036854.775808", kQuantityScale).is_ok());
  CHECK_FALSE(parse_decimal("99999999999999999999", 0).is_ok());
  CHECK(parse_decimal("9223372036854775807", 0).value() == INT64_MAX);
}

TEST_CASE("decimal: formatting is the exact inverse") {
  CHECK(format_decimal(170'000'000'000, kUnitPriceScale) == "0.17");
  CHECK(format_decimal(8'192'000'000, kQuantityScale) == "8192");
  CHECK(format_decimal(-1, kAmountScale) == "-0.000000001");
  CHECK(format_decimal(INT64_MIN, 0) == "-9223372036854775808");
  CHECK(format_decimal(0, kAmountScale) == "0");
}

TEST_CASE("time: RFC 3339 UTC round-trips, with optional microseconds") {
  CHECK(parse_time("1970-01-01T00:00:00Z").value() == 0);
  CHECK(parse_time("2026-10-03T10:00:00Z").value() == 1'791'021'600'000'000);
  CHECK(parse_time("2026-10-03T10:00:00.5Z").value() == 1'791'021'600'500'000);
  CHECK(format_time(1'791'021'600'000'000) == "2026-10-03T10:00:00Z");
  CHECK(format_time(1'791'021'600'000'001) == "2026-10-03T10:00:00.000001Z");
  CHECK(parse_time("2028-02-29T23:59:59Z").is_ok());
}

TEST_CASE("time: other offsets, impossible dates and malformed text are refused") {
  for (const char* bad : {"2026-10-03T10:00:00", "2026-10-03T10:00:00+01:00",
                          "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-10-03 10:00:00Z",
                          "2026-10-03T24:00:00Z", "2026-10-03T10:00:00.1234567Z",
                          "1969-12-31T23:59:59Z", "2026-10-03", "2026-10-03T10:00:00.Z"}) {
    INFO("time: ", bad);
    CHECK_FALSE(parse_time(bad).is_ok());
  }
}

TEST_CASE("month: YYYY-MM, calendar arithmetic in UTC") {
  CHECK(parse_month("2026-10").value() == 202610);
  CHECK_FALSE(parse_month("2026-13").is_ok());
  CHECK_FALSE(parse_month("2026-1").is_ok());
  CHECK(format_month(202601) == "2026-01");
  CHECK(month_of(parse_time("2026-10-31T23:59:59Z").value()) == 202610);
  CHECK(month_of(parse_time("2026-11-01T00:00:00Z").value()) == 202611);
  CHECK(month_start(202611) == parse_time("2026-11-01T00:00:00Z").value());
  CHECK(next_month(202612) == 202701);
}

TEST_CASE("ids: the patterns of DOMAIN.md") {
  CHECK(is_account_id("111111111111"));
  CHECK_FALSE(is_account_id("11111111111"));
  CHECK(is_org_id("o-exampleorg1"));
  CHECK_FALSE(is_org_id("o-exampl"));
  CHECK(is_root_id("r-ab12"));
  CHECK_FALSE(is_root_id("r-ab1"));
  CHECK(is_ou_id("ou-ab12-abcdefgh"));
  CHECK_FALSE(is_ou_id("ou-ab12-abcdefg"));
  CHECK(is_handshake_id("h-12345678"));
  CHECK_FALSE(is_handshake_id("h-1234567"));
  CHECK(is_policy_id("p-FullAWS_Access"));
  CHECK_FALSE(is_policy_id("p-short"));
}

TEST_CASE("text: names must be valid UTF-8 without control characters") {
  CHECK(is_valid_name("Équipe Données"));
  CHECK_FALSE(is_valid_name("bad\xff"));
  CHECK_FALSE(is_valid_name("tab\tname"));
  CHECK(is_valid_name(std::string(128, 'a')));
  CHECK_FALSE(is_valid_name(std::string(129, 'a')));
}
