// Registry snapshots for checkpoints (docs/format.md "Checkpoints"): the whole state as bytes, so
// start-up loads the latest checkpoint and replays only the log after it.
// Pure functions; the encoding walks every field in a fixed order and carries its own version.
#pragma once

#include <string>
#include <string_view>

#include "projections/registry.h"
#include "projections/status.h"

namespace orgledger {

inline constexpr uint32_t kSnapshotVersion = 2;  // 2: credentials facts and change history

// The state as bytes: a version, then every field of the registry in a fixed order.
std::string encode_snapshot(const Registry& state);

// The inverse of encode_snapshot. DataLoss/CorruptRecord for bytes that are truncated, of another
// version, or not a snapshot (the caller then replays the whole log instead).
Result<Registry> decode_snapshot(std::string_view bytes);

}  // namespace orgledger
