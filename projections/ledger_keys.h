// Keys and values of the `ledger` column family (docs/format.md "The ledger family"). Pure
// encoding; the engine writes what apply produces, in the batch of the events it comes from.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "projections/registry.h"

namespace orgledger::ledger_keys {

inline constexpr char kUsagePrefix = 'u';
inline constexpr char kCorrectionPrefix = 'c';
inline constexpr char kFrozenBillPrefix = 'b';

// Writes `value` big-endian at `at`; returns the byte after it.
inline char* put_u32(char* at, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) *at++ = static_cast<char>((value >> shift) & 0xff);
  return at;
}

inline void append_u32(std::string& out, uint32_t value) {
  char bytes[4];
  put_u32(bytes, value);
  out.append(bytes, sizeof bytes);
}

// Built in place, not a byte at a time: every usage event writes a key and a quantity.
inline std::string encode_quantity(int64_t quantity) {
  const auto value = static_cast<uint64_t>(quantity);
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (56 - 8 * i)) & 0xff);
  return std::string(bytes, sizeof bytes);
}

// 'u' payer NUL month(4, big-endian YYYYMM) usage_type NUL account -> quantity (8, big-endian)
inline std::string usage_key(std::string_view payer_id, Month month, std::string_view usage_type,
                             std::string_view account_id) {
  std::string out(1 + payer_id.size() + 1 + 4 + usage_type.size() + 1 + account_id.size(), '\0');
  char* at = out.data();
  *at++ = kUsagePrefix;
  at = std::copy(payer_id.begin(), payer_id.end(), at);
  *at++ = '\0';
  at = put_u32(at, static_cast<uint32_t>(month));
  at = std::copy(usage_type.begin(), usage_type.end(), at);
  *at++ = '\0';
  std::copy(account_id.begin(), account_id.end(), at);
  return out;
}

// 'c' payer NUL target(4) origin(4) usage_type NUL account -> quantity (8, big-endian)
inline std::string correction_key(const CorrectionKey& key) {
  std::string out(1, kCorrectionPrefix);
  out += key.payer_id;
  out += '\0';
  append_u32(out, static_cast<uint32_t>(key.target));
  append_u32(out, static_cast<uint32_t>(key.origin));
  out += key.usage_type;
  out += '\0';
  out += key.account_id;
  return out;
}

// 'b' payer NUL month(4) -> the bill's canonical JSON
inline std::string frozen_bill_key(const std::string& payer_id, Month month) {
  std::string out(1, kFrozenBillPrefix);
  out += payer_id;
  out += '\0';
  append_u32(out, static_cast<uint32_t>(month));
  return out;
}

}  // namespace orgledger::ledger_keys
