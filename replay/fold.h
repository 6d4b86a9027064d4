// Folding history: rebuild the registry from any RecordSource, up to a position or a time.
#pragma once

#include <cstdint>
#include <limits>
#include <string_view>

#include "projections/registry.h"
#include "projections/status.h"
#include "projections/values.h"
#include "replay/record_source.h"

namespace orgledger {

struct FoldRange {
  uint64_t from = 1;                                   // first position to apply
  uint64_t to = std::numeric_limits<uint64_t>::max();  // last position to apply (clipped to head)
  // As of a time: stop before the first record recorded after `until` (recorded_at never
  // decreases along the log, so this is "what the log knew at `until`").
  Micros until = kForever;
};

struct FoldSummary {
  uint64_t first_position = 0;  // 0 when nothing was applied
  uint64_t last_position = 0;
  uint64_t records = 0;
};

// Which thread checks each record (decode_record) while a fold runs. kBalanced: the reader
// when the folding thread has batches waiting, else the folding thread. The other two are for
// tests, which need each path taken for certain.
enum class RecordChecks { kBalanced, kOnReader, kOnFolder };

// Applies the records of `range` to `state`, in order. `state` must be the fold of every record
// before `range.from`. Returns DataLoss when a record is missing (a gap) or cannot be decoded;
// `state` then holds the records applied before it.
Result<FoldSummary> fold(const RecordSource& source, const FoldRange& range, Registry& state,
                         RecordChecks checks = RecordChecks::kBalanced);

// The registry as of position `to` (0 = the empty state), or as of time `until`.
Result<Registry> replay_to_position(const RecordSource& source, uint64_t to);
Result<Registry> replay_until(const RecordSource& source, Micros until);

// The registry as of `as_of`, the text of an --as-of option: "" = the head; digits = a log
// position; otherwise an RFC 3339 time (recorded_at: what the log knew then).
// InvalidArgument/InvalidInput for other text.
Result<Registry> replay_as_of(const RecordSource& source, std::string_view as_of);

}  // namespace orgledger
