// Exact value types of the domain and their text forms (DESIGN.md "Money and time").
// Pure functions: no clock, no locale, no floating point.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "projections/status.h"

namespace orgledger {

// Microseconds since the Unix epoch, UTC.
using Micros = int64_t;
inline constexpr Micros kMicrosPerSecond = 1'000'000;
inline constexpr Micros kMicrosPerMinute = 60 * kMicrosPerSecond;
inline constexpr Micros kMicrosPerDay = 86'400 * kMicrosPerSecond;
// The end of an interval that has not ended.
inline constexpr Micros kForever = std::numeric_limits<Micros>::max();

// Parses RFC 3339 UTC text "YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z" (years 1970-9999). More than six
// fractional digits, another offset than Z, or an impossible date is InvalidArgument.
Result<Micros> parse_time(std::string_view text);
// "YYYY-MM-DDTHH:MM:SSZ", with ".ffffff" only when the time has a sub-second part.
std::string format_time(Micros time);

// A billing month as YYYYMM (202610).
using Month = int32_t;
// Parses "YYYY-MM".
Result<Month> parse_month(std::string_view text);
std::string format_month(Month month);
bool is_valid_month(Month month);
// The month containing `time`, and the first instant of a month.
Month month_of(Micros time);
Micros month_start(Month month);
Month next_month(Month month);

// Parses a non-negative exact decimal ("4096", "0.17", "12.000001") into an integer count of
// 10^-scale units: parse_decimal("0.17", 12) = 170'000'000'000. More fractional digits than
// `scale`, an exponent, a sign, a leading '.', or a value beyond int64 is InvalidArgument.
Result<int64_t> parse_decimal(std::string_view text, int scale);
// The inverse: the shortest exact decimal text of `value` units of 10^-scale.
std::string format_decimal(int64_t value, int scale);

// Scales of the three money-and-quantity units.
inline constexpr int kQuantityScale = 6;    // micro-units
inline constexpr int kUnitPriceScale = 12;  // picodollars
inline constexpr int kAmountScale = 9;      // nano-USD

// Identifier patterns of DOMAIN.md "Entities and identifiers".
bool is_account_id(std::string_view id);    // 12 digits
bool is_org_id(std::string_view id);        // o- + 10..32 [a-z0-9]
bool is_root_id(std::string_view id);       // r- + 4..32 [0-9a-z]
bool is_ou_id(std::string_view id);         // ou- + 4..32 [0-9a-z] + - + 8..32 [a-z0-9]
bool is_handshake_id(std::string_view id);  // h- + 8..32 [0-9a-z]
bool is_policy_id(std::string_view id);     // p- + 8..128 [0-9a-zA-Z_]
// 6..64 characters, exactly one '@', a non-empty local part, and a dot inside the domain.
bool is_valid_email(std::string_view email);
// 1..128 characters of valid UTF-8 without control characters.
bool is_valid_name(std::string_view name, size_t max_length = 128);
bool is_valid_utf8(std::string_view text);

// The root id an organization gets when OrganizationCreated names none: "r-" + the org suffix.
std::string default_root_id(std::string_view org_id);

}  // namespace orgledger
