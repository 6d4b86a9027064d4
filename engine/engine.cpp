#include "engine/engine.h"

#include <chrono>
#include <map>

#include "replay/fold.h"
#include "replay/record.h"

namespace orgledger {
namespace {

Micros system_clock_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<std::unique_ptr<Engine>> Engine::open(const std::string& directory, EngineOptions options) {
  auto store = Store::open(directory, options.store);
  if (!store.is_ok()) return store.status();
  std::unique_ptr<Engine> engine(new Engine());
  engine->store_ = std::move(*store);
  if (!options.clock) options.clock = system_clock_micros;
  engine->options_ = std::move(options);
  auto summary = fold(*engine->store_, FoldRange{}, engine->registry_);
  if (!summary.is_ok()) return summary.status();
  return engine;
}

AppendOutcome Engine::append(std::vector<AppendInput> inputs, std::string_view actor) {
  AppendOutcome outcome;
  outcome.positions.resize(inputs.size());
  auto fail = [&](size_t index, Status status) {
    outcome.status = std::move(status);
    outcome.failed_index = index;
    outcome.positions.clear();
    outcome.head = store_->head().value();
    return outcome;
  };

  Head head = store_->head().value();
  const Micros recorded_at = std::max(options_.clock(), store_->head_recorded_at());
  // Validation sees the state as left by the earlier events of this same request, so it runs
  // on a copy that replaces the live state only once the batch is durable.
  Registry scratch = registry_;
  std::vector<NewRecord> records;
  // Event ids first seen in this request: id -> (position, content hash).
  std::map<EventIdBytes, EventIdEntry> batch_ids;
  // The ledger entries the new events change, written in the same batch as the events.
  LedgerWrites ledger_writes;

  for (size_t index = 0; index < inputs.size(); ++index) {
    const AppendInput& input = inputs[index];
    const Hash content = event_content_hash(input.event);
    std::optional<EventIdEntry> known;
    if (auto it = batch_ids.find(input.event_id); it != batch_ids.end()) {
      known = it->second;
    } else {
      auto stored = store_->find_event_id(input.event_id);
      if (!stored.is_ok()) return fail(index, stored.status());
      known = *stored;
    }
    if (known) {
      if (known->content_hash != content) {
        return fail(index, Status(Code::kAlreadyExists, Reason::kDuplicateEventId,
                                  "event id " + to_hex(input.event_id.data(), 16) +
                                      " was already used, at position " +
                                      std::to_string(known->position) + ", for other content"));
      }
      outcome.positions[index] = known->position;  // an identical retry: already stored
      continue;
    }

    NewRecord record;
    record.position = head.position + 1;
    record.recorded_at = recorded_at;
    record.event_id = input.event_id;
    record.content_hash = content;
    record.bytes =
        encode_record(record.position, recorded_at, input.event_id, actor, head.hash, input.event);
    record.record_hash = sha256(record.bytes);
    const fb::EventRecord* root = fb::GetEventRecord(record.bytes.data());
    const EventContext context{record.position, recorded_at, actor, &ledger_writes};
    Status valid = validate(scratch, *root->event(), context);
    if (!valid.is_ok()) return fail(index, std::move(valid));
    apply(scratch, *root->event(), context);

    head = Head{record.position, record.record_hash};
    batch_ids.emplace(input.event_id, EventIdEntry{record.position, content});
    outcome.positions[index] = record.position;
    records.push_back(std::move(record));
  }

  if (Status written = store_->append(records, ledger_writes); !written.is_ok()) {
    return fail(inputs.size(), std::move(written));
  }
  registry_ = std::move(scratch);
  outcome.stored = records.size();
  outcome.head = head;
  return outcome;
}

}  // namespace orgledger
