// Keys and values of the `ledger` column family (docs/format.md "The ledger family"). Pure
// encoding; the engine writes what apply produces, in the batch of the events it comes from.
#pragma once

#include <cstdint>
#include <string>

#include "projections/registry.h"

namespace orgledger::ledger_keys {

inline constexpr char kUsagePrefix = 'u';
inline constexpr char kCorrectionPrefix = 'c';
inline constexpr char kFrozenBillPrefix = 'b';

inline void append_u32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((value >> shift) & 0xff);
}

inline std::string encode_quantity(int64_t quantity) {
  std::string out;
  const auto value = static_cast<uint64_t>(quantity);
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((value >> shift) & 0xff);
  return out;
}

// 'u' payer NUL month(4, big-endian YYYYMM) usage_type NUL account -> quantity (8, big-endian)
inline std::string usage_key(std::string_view payer_id, Month month, std::string_view usage_type,
                             std::string_view account_id) {
  std::string out;
  out.reserve(1 + payer_id.size() + 1 + 4 + usage_type.size() + 1 + account_id.size());
  out += kUsagePrefix;
  out += payer_id;
  out += '\0';
  append_u32(out, static_cast<uint32_t>(month));
  out += usage_type;
  out += '\0';
  out += account_id;
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
