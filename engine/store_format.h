// The on-disk layout of the store, in one place (prose spec: docs/format.md). Changing anything
// here changes the stored format: bump kFormatVersion and say how old stores are read.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace orgledger::store_format {

inline constexpr uint32_t kFormatVersion = 1;

// Column families.
inline constexpr std::string_view kEventsFamily = "events";       // position -> EventRecord
inline constexpr std::string_view kEventIdsFamily = "event_ids";  // event_id -> EventIdEntry
inline constexpr std::string_view kLedgerFamily = "ledger";       // ledger aggregates (issue 3)
inline constexpr std::string_view kMetaFamily = "meta";           // see keys below
inline constexpr std::string_view kCheckpointsFamily = "checkpoints";  // registry snapshots

// Keys of the meta family.
inline constexpr std::string_view kFormatVersionKey = "format_version";  // decimal text
inline constexpr std::string_view kHeadKey = "head";                     // HeadValue

// events key: the position as 8 bytes big-endian, so RocksDB's bytewise order is log order.
inline constexpr size_t kPositionKeySize = 8;
// event_ids value: position (8 bytes big-endian) + SHA-256 of the event's content (32 bytes).
inline constexpr size_t kEventIdEntrySize = 8 + 32;
// head value: position (8, big-endian) + hash (32) + recorded_at of the head record (8, BE).
inline constexpr size_t kHeadValueSize = 8 + 32 + 8;

inline std::string encode_u64(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 7; i >= 0; --i) {
    bytes[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return bytes;
}

inline uint64_t decode_u64(std::string_view bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8; ++i) value = value << 8 | static_cast<uint8_t>(bytes[i]);
  return value;
}

inline std::string position_key(uint64_t position) { return encode_u64(position); }

}  // namespace orgledger::store_format
