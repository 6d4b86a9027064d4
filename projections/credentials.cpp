#include "projections/credentials.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>

namespace orgledger {
namespace {

Status violation(std::string rule) {
  return Status(Code::kInvalidArgument, Reason::kPasswordPolicyViolation,
                "the password " + std::move(rule));
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

Status check_password_policy(std::string_view password, std::string_view email,
                             std::string_view name) {
  // Length in characters (UTF-8 continuation bytes do not count).
  size_t characters = 0;
  bool upper = false, lower = false, digit = false, special = false;
  for (char c : password) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte & 0xC0) != 0x80) ++characters;
    if (c >= 'A' && c <= 'Z') {
      upper = true;
    } else if (c >= 'a' && c <= 'z') {
      lower = true;
    } else if (c >= '0' && c <= '9') {
      digit = true;
    } else if (byte > 0x20 && byte != 0x7f) {
      special = true;  // punctuation, symbols and any non-ASCII character
    }
  }
  if (characters < kMinPasswordLength) return violation("needs at least 8 characters");
  if (characters > kMaxPasswordLength) return violation("may have at most 128 characters");
  if (!upper) return violation("needs an upper-case letter");
  if (!lower) return violation("needs a lower-case letter");
  if (!digit) return violation("needs a digit");
  if (!special) return violation("needs a special character");
  if (equals_ignoring_case(password, email)) return violation("may not be the account's email");
  if (equals_ignoring_case(password, name)) return violation("may not be the account's name");
  return Status::ok();
}

std::string encode_base32(const std::vector<uint8_t>& bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string text;
  uint32_t buffer = 0;
  int bits = 0;
  for (uint8_t byte : bytes) {
    buffer = (buffer << 8 | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      text += kAlphabet[(buffer >> bits) & 31];
    }
  }
  if (bits > 0) text += kAlphabet[(buffer << (5 - bits)) & 31];
  return text;
}

Result<std::vector<uint8_t>> decode_base32(std::string_view text) {
  std::vector<uint8_t> bytes;
  uint32_t buffer = 0;
  int bits = 0;
  bool padding = false;
  for (char c : text) {
    int value;
    if (c >= 'A' && c <= 'Z') {
      value = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      value = c - 'a';
    } else if (c >= '2' && c <= '7') {
      value = c - '2' + 26;
    } else if (c == '=') {
      padding = true;
      continue;
    } else {
      return Status(Code::kInvalidArgument, Reason::kInvalidInput,
                    "a TOTP seed is base32 (letters A-Z and digits 2-7)");
    }
    if (padding) {
      return Status(Code::kInvalidArgument, Reason::kInvalidInput,
                    "base32 padding may only end the seed");
    }
    buffer = buffer << 5 | static_cast<uint32_t>(value);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<uint8_t>((buffer >> bits) & 0xff));
    }
  }
  return bytes;
}

std::string totp_code(const std::vector<uint8_t>& key, int64_t unix_seconds, int digits) {
  const uint64_t step = static_cast<uint64_t>(unix_seconds / kTotpStepSeconds);
  unsigned char counter[8];
  for (int i = 7; i >= 0; --i) counter[7 - i] = static_cast<unsigned char>(step >> (8 * i));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_length = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), counter, sizeof counter, mac,
       &mac_length);
  // RFC 4226 dynamic truncation.
  const int offset = mac[mac_length - 1] & 0x0f;
  const uint32_t binary = (static_cast<uint32_t>(mac[offset] & 0x7f) << 24) |
                          (static_cast<uint32_t>(mac[offset + 1]) << 16) |
                          (static_cast<uint32_t>(mac[offset + 2]) << 8) |
                          static_cast<uint32_t>(mac[offset + 3]);
  uint32_t modulus = 1;
  for (int i = 0; i < digits; ++i) modulus *= 10;
  char text[16];
  std::snprintf(text, sizeof text, "%0*u", digits, binary % modulus);
  return text;
}

std::optional<int64_t> verify_totp(const std::vector<uint8_t>& key, std::string_view code,
                                   int64_t unix_seconds, int64_t last_used_step) {
  const int64_t now_step = unix_seconds / kTotpStepSeconds;
  for (int64_t step = now_step - 1; step <= now_step + 1; ++step) {
    if (step <= last_used_step) continue;
    if (totp_code(key, step * kTotpStepSeconds) == code) return step;
  }
  return std::nullopt;
}

}  // namespace orgledger
