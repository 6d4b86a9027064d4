#include "engine/engine.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <map>

#include "projections/snapshot.h"
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
  ORGLEDGER_RETURN_IF_ERROR(engine->recover());
  return engine;
}

Result<Registry> load_state(const Store& store, uint64_t* checkpoint_position) {
  Registry state;
  uint64_t loaded = 0;
  const uint64_t head = store.head()->position;
  auto checkpoint = store.latest_checkpoint();
  if (checkpoint.is_ok() && checkpoint->has_value() && (*checkpoint)->first <= head &&
      (*checkpoint)->second.size() > sizeof(Hash)) {
    // value: digest of the state, then its snapshot.
    const std::string& value = (*checkpoint)->second;
    auto decoded = decode_snapshot(std::string_view(value).substr(sizeof(Hash)));
    if (decoded.is_ok() && std::memcmp(value.data(), digest(*decoded).data(), sizeof(Hash)) == 0) {
      state = std::move(*decoded);
      loaded = (*checkpoint)->first;
    }
    // Otherwise the checkpoint is ignored: replaying the whole log is always correct.
  }
  auto summary = fold(store, FoldRange{loaded + 1}, state);
  if (!summary.is_ok()) return summary.status();
  if (checkpoint_position != nullptr) *checkpoint_position = loaded;
  return state;
}

Status Engine::recover() {
  uint64_t loaded = 0;
  auto state = load_state(*store_, &loaded);
  if (!state.is_ok()) return state.status();
  registry_ = std::move(*state);
  loaded_checkpoint_ = loaded;
  last_checkpoint_ = loaded;
  return Status::ok();
}

Status Engine::checkpoint() {
  const uint64_t head = store_->head()->position;
  const Hash state_digest = digest(registry_);
  std::string value(reinterpret_cast<const char*>(state_digest.data()), state_digest.size());
  value += encode_snapshot(registry_);
  ORGLEDGER_RETURN_IF_ERROR(store_->put_checkpoint(head, value));
  last_checkpoint_ = head;
  return Status::ok();
}

AppendOutcome Engine::append(std::vector<AppendInput> inputs, std::string_view actor) {
  std::vector<AppendRequest> group(1);
  group[0].inputs = std::move(inputs);
  group[0].actor = std::string(actor);
  return std::move(append_group(std::move(group)).front());
}

std::vector<AppendOutcome> Engine::append_group(std::vector<AppendRequest> requests) {
  std::vector<AppendOutcome> outcomes(requests.size());
  if (needs_recovery_) {
    // Crash-only: the same recovery as start-up; appends wait until it succeeds.
    if (Status recovered = recover(); !recovered.is_ok()) {
      for (AppendOutcome& outcome : outcomes) {
        outcome.status = Status(Code::kUnavailable, Reason::kStorageError,
                                "appends are suspended until the state is rebuilt from the "
                                "store: " +
                                    recovered.message());
        outcome.failed_index = AppendOutcome::kWholeRequest;
        outcome.head = store_->head().value();
      }
      return outcomes;
    }
    needs_recovery_ = false;
  }
  Head head = store_->head().value();
  const Micros recorded_at = std::max(options_.clock(), store_->head_recorded_at());
  std::vector<NewRecord> records;
  LedgerWrites ledger_writes;  // written in the same batch as the events they come from
  // Event ids stored by earlier requests of this group: id -> (position, content hash).
  std::map<EventIdBytes, EventIdEntry> group_ids;
  bool live_state_changed = false;

  for (size_t request_index = 0; request_index < requests.size(); ++request_index) {
    const AppendRequest& request = requests[request_index];
    AppendOutcome& outcome = outcomes[request_index];
    outcome.positions.resize(request.inputs.size());
    auto fail = [&](size_t index, Status status) {
      outcome.status = std::move(status);
      outcome.failed_index = index;
      outcome.positions.clear();
    };
    if (request.expected_head && *request.expected_head != head.position) {
      fail(0, Status(Code::kAborted, Reason::kWrongExpectedHead,
                     "expected the head at position " + std::to_string(*request.expected_head) +
                         " but it is at " + std::to_string(head.position) + "; re-read and retry"));
      outcome.failed_index = AppendOutcome::kWholeRequest;
      continue;
    }
    // Only this request's events are in here until it is accepted.
    std::map<EventIdBytes, EventIdEntry> request_ids;
    const size_t records_before = records.size();
    const size_t writes_before = ledger_writes.size();
    Head request_head = head;
    // A request of several events must be all or nothing, so they run on a copy of the state;
    // a single event is validated before it touches the live state, so it needs no copy.
    size_t new_events = 0;
    for (const AppendInput& input : request.inputs) {
      if (!group_ids.contains(input.event_id)) ++new_events;
    }
    std::optional<Registry> scratch;
    if (new_events > 1) scratch = registry_;
    Registry& state = scratch ? *scratch : registry_;

    for (size_t index = 0; index < request.inputs.size() && outcome.status.is_ok(); ++index) {
      const AppendInput& input = request.inputs[index];
      const Hash content = event_content_hash(input.event);
      std::optional<EventIdEntry> known;
      if (auto it = request_ids.find(input.event_id); it != request_ids.end()) {
        known = it->second;
      } else if (auto earlier = group_ids.find(input.event_id); earlier != group_ids.end()) {
        known = earlier->second;
      } else {
        auto stored = store_->find_event_id(input.event_id);
        if (!stored.is_ok()) {
          fail(index, stored.status());
          break;
        }
        known = *stored;
      }
      if (known) {
        if (known->content_hash != content) {
          fail(index, Status(Code::kAlreadyExists, Reason::kDuplicateEventId,
                             "event id " + to_hex(input.event_id.data(), 16) +
                                 " was already used, at position " +
                                 std::to_string(known->position) + ", for other content"));
          break;
        }
        outcome.positions[index] = known->position;  // an identical retry: already stored
        continue;
      }

      NewRecord record;
      record.position = request_head.position + 1;
      record.recorded_at = recorded_at;
      record.event_id = input.event_id;
      record.content_hash = content;
      record.bytes = encode_record(record.position, recorded_at, input.event_id, request.actor,
                                   request_head.hash, input.event);
      record.record_hash = sha256(record.bytes);
      const fb::EventRecord* root = fb::GetEventRecord(record.bytes.data());
      const EventContext context{record.position, recorded_at, request.actor, &ledger_writes};
      if (Status valid = validate(state, *root->event(), context); !valid.is_ok()) {
        fail(index, std::move(valid));
        break;
      }
      apply(state, *root->event(), context);
      if (!scratch) live_state_changed = true;
      request_head = Head{record.position, record.record_hash};
      request_ids.emplace(input.event_id, EventIdEntry{record.position, content});
      outcome.positions[index] = record.position;
      records.push_back(std::move(record));
    }
    if (!outcome.status.is_ok()) {
      // Nothing of a refused request survives: its records and ledger writes are dropped (a
      // single refused event never reached the live state).
      records.resize(records_before);
      ledger_writes.resize(writes_before);
      continue;
    }
    if (scratch) {
      registry_ = std::move(*scratch);
      live_state_changed = true;
    }
    group_ids.merge(request_ids);
    outcome.stored = records.size() - records_before;
    head = request_head;
  }

  if (Status written = store_->append(records, ledger_writes); !written.is_ok()) {
    // Nothing of the group is stored, but the live state may hold its events: rebuild it from
    // the store, the one recovery path, before anything else is served.
    for (AppendOutcome& outcome : outcomes) {
      if (!outcome.status.is_ok()) continue;
      outcome.status = written;
      outcome.failed_index = AppendOutcome::kWholeRequest;
      outcome.positions.clear();
      outcome.stored = 0;
    }
    // The live state may hold events the store does not: rebuild it now, so no query sees
    // them; if even that fails, appends stay suspended until a rebuild succeeds.
    if (live_state_changed && !recover().is_ok()) needs_recovery_ = true;
    head = store_->head().value();
  } else if (options_.checkpoint_every > 0 &&
             head.position - last_checkpoint_ >= options_.checkpoint_every) {
    // Only start-up time depends on a checkpoint: a failed one is logged, not fatal.
    if (Status written = checkpoint(); !written.is_ok()) {
      spdlog::warn("checkpoint at position {} not written: {}", head.position, written.to_string());
    }
  }
  for (AppendOutcome& outcome : outcomes) outcome.head = head;
  return outcomes;
}

}  // namespace orgledger
