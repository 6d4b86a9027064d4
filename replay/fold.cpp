#include "replay/fold.h"

#include <string>

#include "replay/record.h"

namespace orgledger {

Result<FoldSummary> fold(const RecordSource& source, const FoldRange& range, Registry& state) {
  FoldSummary summary;
  uint64_t expected = range.from;
  Status failure;
  Status scanned = source.scan(range.from, range.to, [&](const StoredRecord& stored) {
    if (stored.position != expected) {
      failure = Status(Code::kDataLoss, Reason::kCorruptRecord,
                       "record at position " + std::to_string(expected) + " is missing");
      return ScanOutcome::kStop;
    }
    auto record = decode_record(stored);
    if (!record.is_ok()) {
      failure = record.status();
      return ScanOutcome::kStop;
    }
    if ((*record)->recorded_at() > range.until) return ScanOutcome::kStop;
    const EventContext context{stored.position, (*record)->recorded_at(),
                               (*record)->actor() ? (*record)->actor()->string_view() : ""};
    apply(state, *(*record)->event(), context);
    if (summary.records == 0) summary.first_position = stored.position;
    summary.last_position = stored.position;
    ++summary.records;
    ++expected;
    return ScanOutcome::kContinue;
  });
  ORGLEDGER_RETURN_IF_ERROR(scanned);
  ORGLEDGER_RETURN_IF_ERROR(failure);
  return summary;
}

Result<Registry> replay_to_position(const RecordSource& source, uint64_t to) {
  Registry state;
  if (to == 0) return state;
  auto summary = fold(source, FoldRange{1, to, kForever}, state);
  if (!summary.is_ok()) return summary.status();
  return state;
}

Result<Registry> replay_until(const RecordSource& source, Micros until) {
  Registry state;
  auto summary = fold(source, FoldRange{1, std::numeric_limits<uint64_t>::max(), until}, state);
  if (!summary.is_ok()) return summary.status();
  return state;
}

Result<Registry> replay_as_of(const RecordSource& store, std::string_view as_of) {
  if (as_of.empty()) return replay_to_position(store, std::numeric_limits<uint64_t>::max());
  if (as_of.find_first_not_of("0123456789") == std::string_view::npos) {
    auto position = parse_decimal(as_of, 0);
    if (!position.is_ok())
      return Status(Code::kInvalidArgument, Reason::kInvalidInput,
                    "--as-of: " + position.status().message());
    return replay_to_position(store, static_cast<uint64_t>(*position));
  }
  auto time = parse_time(as_of);
  if (!time.is_ok()) {
    return Status(Code::kInvalidArgument, Reason::kInvalidInput,
                  "--as-of must be a log position or an RFC 3339 time: " + time.status().message());
  }
  return replay_until(store, *time);
}

}  // namespace orgledger
