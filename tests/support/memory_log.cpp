#include "tests/support/memory_log.h"

#include "replay/record.h"

namespace orgledger::testing {

Status MemoryLog::append(const fb::EventT& event, Micros recorded_at) {
  const uint64_t position = head_.position + 1;
  EventIdBytes id{};
  for (size_t i = 0; i < 8; ++i) id[i] = static_cast<uint8_t>(position >> (8 * i));
  std::string bytes = encode_record(position, recorded_at, id, "test", head_.hash, event);
  const fb::EventRecord* record = fb::GetEventRecord(bytes.data());
  // As the engine appends: apply reuses what validate looked up (replay, which the tests
  // compare this state with, looks everything up again).
  UsageLookup usage_lookup;
  const EventContext context{position, recorded_at, "test", nullptr, &usage_lookup};
  ORGLEDGER_RETURN_IF_ERROR(validate(state_, *record->event(), context));
  apply(state_, *record->event(), context);
  head_ = Head{position, sha256(bytes)};
  records_.push_back(std::move(bytes));
  recorded_at_.push_back(recorded_at);
  return Status::ok();
}

Status MemoryLog::scan(uint64_t from, uint64_t to, const RecordVisitor& visit) const {
  for (uint64_t position = std::max<uint64_t>(from, 1);
       position <= to && position <= records_.size(); ++position) {
    if (visit(StoredRecord{position, records_[position - 1]}) == ScanOutcome::kStop) break;
  }
  return Status::ok();
}

}  // namespace orgledger::testing
