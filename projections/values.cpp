#include "projections/values.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>

namespace orgledger {
namespace {

Status invalid(std::string message) {
  return Status(Code::kInvalidArgument, Reason::kInvalidInput, std::move(message));
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z'); }

// Reads exactly `count` digits at `text[at]` into `out`.
bool read_digits(std::string_view text, size_t at, size_t count, int& out) {
  if (at + count > text.size()) return false;
  int value = 0;
  for (size_t i = at; i < at + count; ++i) {
    if (!is_digit(text[i])) return false;
    value = value * 10 + (text[i] - '0');
  }
  out = value;
  return true;
}

bool all_of(std::string_view text, bool (*predicate)(char)) {
  for (char c : text) {
    if (!predicate(c)) return false;
  }
  return true;
}

// `prefix` followed by min..max characters satisfying `predicate`.
bool prefixed_id(std::string_view id, std::string_view prefix, size_t min, size_t max,
                 bool (*predicate)(char)) {
  if (!id.starts_with(prefix)) return false;
  std::string_view rest = id.substr(prefix.size());
  return rest.size() >= min && rest.size() <= max && all_of(rest, predicate);
}

std::chrono::sys_days days_since_epoch(int year, int month, int day, bool& valid) {
  using namespace std::chrono;
  year_month_day date{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                      std::chrono::day{static_cast<unsigned>(day)}};
  valid = date.ok();
  return valid ? sys_days{date} : sys_days{};
}

}  // namespace

Result<Micros> parse_time(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS is 19 characters; then an optional fraction, then Z.
  int year, month, day, hour, minute, second;
  const bool shape_ok =
      text.size() >= 20 && read_digits(text, 0, 4, year) && text[4] == '-' &&
      read_digits(text, 5, 2, month) && text[7] == '-' && read_digits(text, 8, 2, day) &&
      text[10] == 'T' && read_digits(text, 11, 2, hour) && text[13] == ':' &&
      read_digits(text, 14, 2, minute) && text[16] == ':' && read_digits(text, 17, 2, second);
  if (!shape_ok) {
    return invalid("time \"" + std::string(text) + "\" is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ)");
  }
  size_t at = 19;
  Micros fraction = 0;
  if (text[at] == '.') {
    ++at;
    size_t digits = 0;
    while (at < text.size() && is_digit(text[at])) {
      if (++digits > 6) {
        return invalid("time \"" + std::string(text) + "\" has more than 6 fractional digits");
      }
      fraction = fraction * 10 + (text[at] - '0');
      ++at;
    }
    if (digits == 0) return invalid("time \"" + std::string(text) + "\" has an empty fraction");
    for (size_t i = digits; i < 6; ++i) fraction *= 10;
  }
  if (at + 1 != text.size() || text[at] != 'Z') {
    return invalid("time \"" + std::string(text) + "\" must end in Z (UTC)");
  }
  bool valid = false;
  const auto days = days_since_epoch(year, month, day, valid);
  if (!valid || year < 1970 || hour > 23 || minute > 59 || second > 59) {
    return invalid("time \"" + std::string(text) + "\" is not a valid date and time");
  }
  const Micros seconds = static_cast<Micros>(days.time_since_epoch().count()) * 86'400 +
                         hour * 3'600 + minute * 60 + second;
  return seconds * kMicrosPerSecond + fraction;
}

std::string format_time(Micros time) {
  using namespace std::chrono;
  Micros days = time / kMicrosPerDay;
  Micros rest = time % kMicrosPerDay;
  if (rest < 0) {
    rest += kMicrosPerDay;
    --days;
  }
  const year_month_day date{sys_days{std::chrono::days{days}}};
  const Micros seconds = rest / kMicrosPerSecond;
  const Micros micros = rest % kMicrosPerSecond;
  char buffer[40];
  int length = std::snprintf(
      buffer, sizeof buffer, "%04d-%02u-%02uT%02lld:%02lld:%02lld", static_cast<int>(date.year()),
      static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
      static_cast<long long>(seconds / 3600), static_cast<long long>(seconds / 60 % 60),
      static_cast<long long>(seconds % 60));
  if (micros != 0) {
    length += std::snprintf(buffer + length, sizeof buffer - length, ".%06lld",
                            static_cast<long long>(micros));
  }
  std::string text(buffer, length);
  text += 'Z';
  return text;
}

bool is_valid_month(Month month) {
  const int year = month / 100;
  const int month_of_year = month % 100;
  return year >= 1970 && year <= 9999 && month_of_year >= 1 && month_of_year <= 12;
}

Result<Month> parse_month(std::string_view text) {
  int year, month;
  if (text.size() != 7 || !read_digits(text, 0, 4, year) || text[4] != '-' ||
      !read_digits(text, 5, 2, month) || !is_valid_month(year * 100 + month)) {
    return invalid("month \"" + std::string(text) + "\" is not YYYY-MM");
  }
  return year * 100 + month;
}

std::string format_month(Month month) {
  char buffer[16];
  const int length = std::snprintf(buffer, sizeof buffer, "%04d-%02d", month / 100, month % 100);
  return std::string(buffer, length);
}

Month month_of(Micros time) {
  using namespace std::chrono;
  Micros days = time / kMicrosPerDay;
  if (time % kMicrosPerDay < 0) --days;
  const year_month_day date{sys_days{std::chrono::days{days}}};
  return static_cast<int>(date.year()) * 100 + static_cast<int>(unsigned(date.month()));
}

Micros month_start(Month month) {
  bool valid = false;
  const auto days = days_since_epoch(month / 100, month % 100, 1, valid);
  return static_cast<Micros>(days.time_since_epoch().count()) * kMicrosPerDay;
}

Month next_month(Month month) {
  return month % 100 == 12 ? (month / 100 + 1) * 100 + 1 : month + 1;
}

Result<int64_t> parse_decimal(std::string_view text, int scale) {
  auto refuse = [&](std::string_view why) {
    return invalid("\"" + std::string(text) + "\" is not an exact decimal: " + std::string(why));
  };
  if (text.empty()) return refuse("empty");
  const size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction =
      dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (whole.empty()) return refuse("no digit before the decimal point");
  if (dot != std::string_view::npos && fraction.empty()) {
    return refuse("no digit after the decimal point");
  }
  if (!all_of(whole, is_digit) || !all_of(fraction, is_digit)) {
    return refuse("only digits and one decimal point are allowed (no sign, exponent or spaces)");
  }
  if (whole.size() > 1 && whole[0] == '0') return refuse("leading zero");
  if (fraction.size() > static_cast<size_t>(scale)) {
    return refuse("more than " + std::to_string(scale) + " fractional digits");
  }
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t value = 0;
  auto push_digit = [&](int digit) {
    if (value > (kMax - digit) / 10) return false;
    value = value * 10 + digit;
    return true;
  };
  for (char c : whole) {
    if (!push_digit(c - '0')) return refuse("too large");
  }
  for (int i = 0; i < scale; ++i) {
    const int digit = i < static_cast<int>(fraction.size()) ? fraction[i] - '0' : 0;
    if (!push_digit(digit)) return refuse("too large");
  }
  return value;
}

std::string format_decimal(int64_t value, int scale) {
  const bool negative = value < 0;
  // Work in unsigned so INT64_MIN formats correctly.
  const uint64_t magnitude =
      negative ? ~static_cast<uint64_t>(value) + 1 : static_cast<uint64_t>(value);
  // The digits, zero-padded to at least scale + 1 of them (one before the point).
  char digits[48];
  const auto size =
      static_cast<size_t>(std::to_chars(digits, digits + sizeof digits, magnitude).ptr - digits);
  const size_t width = std::max(size, static_cast<size_t>(scale) + 1);
  std::string text;
  text.reserve(width + 2);
  if (negative) text += '-';
  text.append(width - size, '0').append(digits, size);
  // Drop the fraction's trailing zeros, and the point when nothing is left after it.
  size_t end = text.size();
  const size_t point = end - static_cast<size_t>(scale);
  while (end > point && text[end - 1] == '0') --end;
  text.resize(end);
  if (end > point) text.insert(point, 1, '.');
  return text;
}

bool is_account_id(std::string_view id) { return id.size() == 12 && all_of(id, is_digit); }

bool is_org_id(std::string_view id) { return prefixed_id(id, "o-", 10, 32, is_lower_alnum); }

bool is_root_id(std::string_view id) { return prefixed_id(id, "r-", 4, 32, is_lower_alnum); }

bool is_ou_id(std::string_view id) {
  if (!id.starts_with("ou-")) return false;
  std::string_view rest = id.substr(3);
  const size_t dash = rest.find('-');
  if (dash == std::string_view::npos) return false;
  const std::string_view root_suffix = rest.substr(0, dash);
  const std::string_view own = rest.substr(dash + 1);
  return root_suffix.size() >= 4 && root_suffix.size() <= 32 &&
         all_of(root_suffix, is_lower_alnum) && own.size() >= 8 && own.size() <= 32 &&
         all_of(own, is_lower_alnum);
}

bool is_handshake_id(std::string_view id) { return prefixed_id(id, "h-", 8, 32, is_lower_alnum); }

bool is_policy_id(std::string_view id) {
  return prefixed_id(id, "p-", 8, 128, [](char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  });
}

bool is_valid_email(std::string_view email) {
  if (email.size() < 6 || email.size() > 64) return false;
  const size_t at = email.find('@');
  if (at == std::string_view::npos || at == 0 ||
      email.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  for (char c : email) {
    // Printable ASCII without spaces: addresses are compared and exported as plain text.
    if (c <= ' ' || c >= 0x7f) return false;
  }
  const std::string_view domain = email.substr(at + 1);
  const size_t dot = domain.find('.');
  // A dot inside the domain: not its first or last character.
  return dot != std::string_view::npos && dot != 0 && domain.back() != '.';
}

bool is_valid_utf8(std::string_view text) {
  return simdjson::validate_utf8(text.data(), text.size());
}

bool is_valid_name(std::string_view name, size_t max_length) {
  if (name.empty() || name.size() > max_length * 4 || !is_valid_utf8(name)) return false;
  size_t characters = 0;
  for (char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return false;
    if ((byte & 0xC0) != 0x80) ++characters;
  }
  return characters <= max_length;
}

std::string default_root_id(std::string_view org_id) {
  return "r-" + std::string(org_id.substr(org_id.starts_with("o-") ? 2 : 0));
}

}  // namespace orgledger
