// The on-disk layout of the store, in one place (prose spec: docs/format.md). Changing anything
// here changes the stored format: bump kFormatVersion and say how old stores are read.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace orgledger::store_format {

// 2: the credentials family. 3: an event_ids entry holds the position only (docs/format.md).
inline constexpr uint32_t kFormatVersion = 3;
// The oldest version this orgledger reads. A store of version 2 reads as it is; opened for
// writing, it is marked version 3 before anything is written to it.
inline constexpr uint32_t kOldestReadableFormatVersion = 2;

// Column families.
inline constexpr std::string_view kEventsFamily = "events";       // position -> EventRecord
inline constexpr std::string_view kEventIdsFamily = "event_ids";  // event_id -> position
inline constexpr std::string_view kLedgerFamily = "ledger";       // ledger aggregates (issue 3)
inline constexpr std::string_view kMetaFamily = "meta";           // see keys below
inline constexpr std::string_view kCheckpointsFamily = "checkpoints";  // registry snapshots
inline constexpr std::string_view kCredentialsFamily = "credentials";  // secrets; keys below
// Every family besides RocksDB's default, in the order the store opens them.
inline constexpr std::array<std::string_view, 6> kFamilies = {
    kEventsFamily, kEventIdsFamily,    kLedgerFamily,
    kMetaFamily,   kCheckpointsFamily, kCredentialsFamily};

// Keys of the meta family.
inline constexpr std::string_view kFormatVersionKey = "format_version";  // decimal text
inline constexpr std::string_view kHeadKey = "head";                     // HeadValue

// events key: the position as 8 bytes big-endian, so RocksDB's bytewise order is log order.
inline constexpr size_t kPositionKeySize = 8;
// event_ids value: the position (8 bytes big-endian). Version 2 followed it with the SHA-256 of
// the event's content (32 bytes); since version 3 that is taken from the record when asked for.
inline constexpr size_t kEventIdEntrySize = 8;
inline constexpr size_t kEventIdEntrySizeV2 = 8 + 32;
// head value: position (8, big-endian) + hash (32) + recorded_at of the head record (8, BE).
inline constexpr size_t kHeadValueSize = 8 + 32 + 8;

// Writes `value` as 8 bytes big-endian at `out`.
inline void put_u64(uint64_t value, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
}

inline std::string encode_u64(uint64_t value) {
  std::string bytes(8, '\0');
  put_u64(value, bytes.data());
  return bytes;
}

inline uint64_t decode_u64(std::string_view bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8; ++i) value = value << 8 | static_cast<uint8_t>(bytes[i]);
  return value;
}

inline std::string position_key(uint64_t position) { return encode_u64(position); }

// credentials keys (docs/security.md): "password/" + account id -> its argon2id hash string;
// "totp/" + account id + "/" + device id -> the step last accepted (8 bytes big-endian, as a
// signed value) + the TOTP key bytes.
inline std::string password_key(std::string_view account_id) {
  return "password/" + std::string(account_id);
}
inline std::string totp_prefix(std::string_view account_id) {
  return "totp/" + std::string(account_id) + "/";
}
inline std::string totp_key(std::string_view account_id, std::string_view device_id) {
  return totp_prefix(account_id) + std::string(device_id);
}
inline std::string encode_totp_entry(int64_t last_step, std::string_view key) {
  return encode_u64(static_cast<uint64_t>(last_step)) + std::string(key);
}
// (last step, key); nullopt when the value is too short to hold a key.
inline std::optional<std::pair<int64_t, std::string>> decode_totp_entry(std::string_view value) {
  if (value.size() <= 8) return std::nullopt;
  return std::make_pair(static_cast<int64_t>(decode_u64(value)), std::string(value.substr(8)));
}

}  // namespace orgledger::store_format
