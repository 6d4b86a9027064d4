#include "engine/engine.h"

#include <absl/container/flat_hash_set.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <limits>
#include <map>

#include "engine/password_hash.h"
#include "engine/store_format.h"
#include "projections/billing.h"
#include "projections/snapshot.h"
#include "replay/fold.h"
#include "replay/record.h"

namespace orgledger {
namespace {

// A request of at most this many events is small: its ids are looked up with the rest of its
// group's small requests' (prepare_group).
constexpr size_t kSmallRequestEvents = 16;
constexpr size_t kNotSmall = std::numeric_limits<size_t>::max();

// An input's event as packed (prepare_group packs every input first).
const fb::Event& packed_event(const AppendInput& input) {
  return *flatbuffers::GetRoot<fb::Event>(input.packed->bytes.data());
}

// Whether events of this type are appended with a secret (take_secret).
bool needs_secret(fb::EventBody type) {
  return type == fb::EventBody::PasswordChanged || type == fb::EventBody::MfaEnabled;
}

// Checks the secret an input carries and turns it into the credentials to store with it.
// `event` is the input's event as packed, and `state` the state it was validated against.
Status take_secret(const Registry& state, const AppendInput& input, const fb::Event& event,
                   Micros now, CredentialWrites& writes) {
  switch (event.body_type()) {
    case fb::EventBody::PasswordChanged: {
      const std::string_view account_id =
          flatbuffers::GetStringView(event.body_as_PasswordChanged()->account_id());
      if (!input.secret || input.secret->password.empty()) {
        return Status(Code::kInvalidArgument, Reason::kSecretRequired,
                      "PasswordChanged is appended with its password (the JSON Lines form "
                      "PasswordSet); the log records the fact, the credentials store its hash");
      }
      const Account& account = *state.find_account(account_id);
      ORGLEDGER_RETURN_IF_ERROR(
          check_password_policy(input.secret->password, account.email, account.name));
      if (input.password_hash.empty()) {
        return Status(Code::kInternal, Reason::kNone, "the password was not hashed");
      }
      writes.emplace_back(store_format::password_key(account_id), input.password_hash);
      return Status::ok();
    }
    case fb::EventBody::MfaEnabled: {
      const auto& body = *event.body_as_MfaEnabled();
      if (!input.secret || input.secret->totp_seed.empty()) {
        return Status(Code::kInvalidArgument, Reason::kSecretRequired,
                      "MfaEnabled is appended with the device's totp_seed and a current code");
      }
      auto key = decode_base32(input.secret->totp_seed);
      if (!key.is_ok()) return key.status().with_context("totp_seed");
      if (key->size() < kMinTotpKeyBytes) {
        return Status(Code::kInvalidArgument, Reason::kInvalidInput,
                      "totp_seed must hold at least " + std::to_string(kMinTotpKeyBytes * 8) +
                          " bits (RFC 4226); this one holds " + std::to_string(key->size() * 8));
      }
      const auto step = verify_totp(*key, input.secret->code, now / 1'000'000, INT64_MIN);
      if (!step) {
        return Status(Code::kInvalidArgument, Reason::kInvalidMfaCode,
                      "the code does not match the TOTP seed at the current time (check the "
                      "device's clock); the device was not enabled");
      }
      writes.emplace_back(
          store_format::totp_key(flatbuffers::GetStringView(body.account_id()),
                                 flatbuffers::GetStringView(body.device_id())),
          store_format::encode_totp_entry(
              *step, std::string_view(reinterpret_cast<const char*>(key->data()), key->size())));
      return Status::ok();
    }
    default:
      if (input.secret) {
        return Status(Code::kInvalidArgument, Reason::kInvalidInput,
                      "a secret goes only with PasswordChanged or MfaEnabled");
      }
      return Status::ok();
  }
}

// The batch needs only each key's last value: a burst of usage of one account and usage type
// writes its aggregate once per group, not once per event. Keeps the order of last writes.
LedgerWrites last_values(LedgerWrites writes) {
  absl::flat_hash_set<std::string_view, IdHash, IdEq> seen;
  seen.reserve(writes.size());
  std::vector<bool> keep(writes.size(), false);
  for (size_t i = writes.size(); i-- > 0;) keep[i] = seen.insert(writes[i].first).second;
  LedgerWrites kept;
  kept.reserve(seen.size());
  for (size_t i = 0; i < writes.size(); ++i) {
    if (keep[i]) kept.push_back(std::move(writes[i]));
  }
  return kept;
}

Micros system_clock_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Status prepare_secrets(std::vector<AppendInput>& inputs) {
  for (AppendInput& input : inputs) {
    if (!input.secret || input.secret->password.empty() || !input.password_hash.empty()) continue;
    auto hash = hash_password(input.secret->password);
    if (!hash.is_ok()) return hash.status();
    input.password_hash = std::move(*hash);
  }
  return Status::ok();
}

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

Engine::~Engine() {
  if (checkpointer_.joinable()) checkpointer_.join();
}

Status Engine::write_checkpoint(Store& store, uint64_t head, const Registry& state) {
  // digest(state) is the SHA-256 of this same encoding: encode once.
  const std::string snapshot = encode_snapshot(state);
  const Hash state_digest = sha256(snapshot);
  std::string value;
  value.reserve(state_digest.size() + snapshot.size());
  value.append(reinterpret_cast<const char*>(state_digest.data()), state_digest.size());
  value += snapshot;
  return store.put_checkpoint(head, value);
}

Status Engine::recover_from_failure(bool resume_writes) {
  if (resume_writes) {
    ORGLEDGER_RETURN_IF_ERROR(store_->recover_writes());
    // Reopening replays RocksDB's log, which may hold the failed batch after all.
    needs_recovery_ = true;
  }
  if (!needs_recovery_) return Status::ok();
  // Crash-only: the same recovery as start-up; appends wait until it succeeds.
  if (Status recovered = recover(); !recovered.is_ok()) {
    return Status(
        Code::kUnavailable, Reason::kStorageError,
        "appends are suspended until the state is rebuilt from the store: " + recovered.message());
  }
  needs_recovery_ = false;
  return Status::ok();
}

Status Engine::checkpoint() {
  // The one being written in the background finishes first: a checkpoint must not race the
  // store's reopen below.
  if (checkpointer_.joinable()) checkpointer_.join();
  if (!pending_.empty()) {
    return Status(Code::kFailedPrecondition, Reason::kNone,
                  "a checkpoint waits until no group is being written");
  }
  // Only a state equal to the store's is checkpointed. An error in the background (a failed
  // flush) may have stopped RocksDB's writes with no append since to resume them: resumed here,
  // as an append would, and the state rebuilt first if that reopened the store.
  ORGLEDGER_RETURN_IF_ERROR(recover_from_failure(store_->writes_stopped()));
  const uint64_t head = store_->head()->position;
  ORGLEDGER_RETURN_IF_ERROR(write_checkpoint(*store_, head, registry_));
  last_checkpoint_ = head;
  return Status::ok();
}

void Engine::checkpoint_in_background() {
  if (checkpointing_.load()) return;
  if (checkpointer_.joinable()) checkpointer_.join();  // finished: checkpointing_ is false
  const uint64_t head = store_->head()->position;
  last_checkpoint_ = head;
  checkpointing_.store(true);
  checkpointer_ = std::thread([this, head, state = std::make_unique<Registry>(registry_)] {
    // Only start-up time depends on a checkpoint: a failed one is logged, not fatal.
    if (Status written = write_checkpoint(*store_, head, *state); !written.is_ok()) {
      spdlog::warn("checkpoint at position {} not written: {}", head, written.to_string());
    }
    checkpointing_.store(false);
  });
}

AppendOutcome Engine::append(std::vector<AppendInput> inputs, const Principal& principal) {
  std::vector<AppendRequest> group(1);
  group[0].inputs = std::move(inputs);
  group[0].principal = principal;
  return std::move(append_group(std::move(group)).front());
}

std::vector<AppendOutcome> Engine::append_group(std::vector<AppendRequest> requests) {
  PreparedGroup group = prepare_group(std::move(requests));
  finish_group(group, write_group(group));
  return std::move(group.outcomes);
}

Status Engine::write_group(PreparedGroup& group) {
  if (group.records.empty()) return Status::ok();
  // The hash chain, completed here rather than by prepare_group: SHA-256 of every record was
  // about a ninth of the sequencer's time, and this thread writes the groups in their order, each
  // after the one before it is stored. The store's head is then the last record before them.
  Hash previous = store_->head()->hash;
  for (NewRecord& record : group.records) {
    set_prev_hash(record.bytes, previous);
    record.record_hash = sha256(record.bytes);
    previous = record.record_hash;
  }
  group.head.hash = previous;
  return store_->append(group.records, last_values(std::move(group.ledger_writes)),
                        group.credential_writes);
}

uint64_t Engine::base_position() const {
  return pending_.empty() ? store_->head()->position : pending_.back().position;
}

bool Engine::checkpoint_due() const {
  return options_.checkpoint_every > 0 &&
         store_->head()->position - last_checkpoint_ >= options_.checkpoint_every;
}

PreparedGroup Engine::prepare_group(std::vector<AppendRequest> requests) {
  PreparedGroup group;
  std::vector<AppendOutcome>& outcomes = group.outcomes;
  outcomes.resize(requests.size());
  auto refuse_all = [&](const Status& status) {
    for (AppendOutcome& outcome : outcomes) {
      outcome.status = status;
      outcome.failed_index = AppendOutcome::kWholeRequest;
    }
    if (pending_.empty()) finished_head_ = store_->head().value();  // as below
    group.head.position = base_position();
    pending_.push_back(Pending{group.head.position, pending_.empty()
                                                        ? store_->head_recorded_at()
                                                        : pending_.back().recorded_at});
    return std::move(group);
  };
  // Recovery only when no earlier group is unfinished (their outcome decides what is stored).
  // A write failed earlier: the store must accept writes again (RocksDB resumed or reopened)
  // before anything is validated against its head. A batch refused for an error in the
  // background is resumed from by the write itself (Store::write_synced).
  if (pending_.empty()) {
    if (Status recovered = recover_from_failure(store_->writes_failed()); !recovered.is_ok()) {
      return refuse_all(recovered);
    }
  }
  // With no group pending, the store's head is the one before this group: what it answers if
  // it stores nothing (finish_group).
  if (pending_.empty()) finished_head_ = store_->head().value();
  // The group continues the store's head, or the last group prepared and not finished yet. Its
  // records are chained (their prev_hash, their hash) by write_group.
  uint64_t position = base_position();
  const Micros recorded_at =
      std::max(options_.clock(),
               pending_.empty() ? store_->head_recorded_at() : pending_.back().recorded_at);
  std::vector<NewRecord>& records = group.records;
  LedgerWrites& ledger_writes = group.ledger_writes;
  CredentialWrites& credential_writes = group.credential_writes;
  bool& live_state_changed = group.live_state_changed;
  // Sized once for the group (a usage event makes one record, one id and one ledger write).
  size_t inputs = 0;
  for (const AppendRequest& request : requests) inputs += request.inputs.size();
  records.reserve(inputs);
  ledger_writes.reserve(inputs);
  // The ids of the group's small requests, asked of the store in one lookup for all of them:
  // asked one request at a time, RocksDB's fixed cost per lookup was a quarter of the
  // sequencer's time with 64 connections sending one event each. A larger request asks for its
  // own below, in one lookup already. (The store's answer holds while the group is prepared:
  // an id stored meanwhile belongs to a group not finished yet, and is found in
  // unfinished_ids_ first.)
  std::vector<EventIdBytes> small_ids;
  std::vector<size_t> small_first(requests.size(), kNotSmall);
  for (size_t request_index = 0; request_index < requests.size(); ++request_index) {
    const std::vector<AppendInput>& small = requests[request_index].inputs;
    if (small.size() > kSmallRequestEvents) continue;
    small_first[request_index] = small_ids.size();
    for (const AppendInput& input : small) small_ids.push_back(input.event_id);
  }
  Result<std::vector<std::optional<EventIdEntry>>> small_stored =
      std::vector<std::optional<EventIdEntry>>();
  if (!small_ids.empty()) small_stored = store_->find_event_ids(small_ids);

  for (size_t request_index = 0; request_index < requests.size(); ++request_index) {
    AppendRequest& request = requests[request_index];
    AppendOutcome& outcome = outcomes[request_index];
    const std::string actor = request.principal.actor();
    outcome.positions.resize(request.inputs.size());
    auto fail = [&](size_t index, Status status) {
      outcome.status = std::move(status);
      outcome.failed_index = index;
      outcome.positions.clear();
    };
    if (request.expected_head && *request.expected_head != position) {
      fail(0, Status(Code::kAborted, Reason::kWrongExpectedHead,
                     "expected the head at position " + std::to_string(*request.expected_head) +
                         " but it is at " + std::to_string(position) + "; re-read and retry"));
      outcome.failed_index = AppendOutcome::kWholeRequest;
      continue;
    }
    const size_t records_before = records.size();
    const size_t writes_before = ledger_writes.size();
    const size_t credentials_before = credential_writes.size();
    if (Status prepared = prepare_secrets(request.inputs); !prepared.is_ok()) {
      fail(0, std::move(prepared));
      outcome.failed_index = AppendOutcome::kWholeRequest;
      continue;
    }
    uint64_t request_position = position;
    // What was stored, or is being stored, before this request under each of its ids: earlier
    // requests of this group and groups not finished yet, then the store, asked once for all
    // the rest.
    std::vector<std::optional<EventIdEntry>> known_before(request.inputs.size());
    std::vector<EventIdBytes> unknown_ids;
    std::vector<size_t> unknown_at;
    // Whether any input carries a secret: take_secret checks it goes with the right event.
    bool carries_secrets = false;
    for (size_t index = 0; index < request.inputs.size(); ++index) {
      AppendInput& input = request.inputs[index];
      // From here on the engine reads the event as packed. The server packs it on the
      // connection's thread, and frees the unpacked event there.
      if (!input.packed) input.packed = pack_event(input.event);
      const EventIdBytes& id = input.event_id;
      carries_secrets = carries_secrets || input.secret.has_value();
      if (auto unfinished = unfinished_ids_.find(id); unfinished != unfinished_ids_.end()) {
        known_before[index] = unfinished->second;
      } else {
        unknown_ids.push_back(id);
        unknown_at.push_back(index);
      }
    }
    if (!unknown_ids.empty() && small_first[request_index] != kNotSmall) {
      if (!small_stored.is_ok()) {
        fail(unknown_at.front(), small_stored.status());
        outcome.failed_index = AppendOutcome::kWholeRequest;
        continue;
      }
      for (size_t index : unknown_at) {
        known_before[index] = (*small_stored)[small_first[request_index] + index];
      }
    } else if (!unknown_ids.empty()) {
      auto stored = store_->find_event_ids(unknown_ids);
      if (!stored.is_ok()) {
        fail(unknown_at.front(), stored.status());
        outcome.failed_index = AppendOutcome::kWholeRequest;
        continue;
      }
      for (size_t i = 0; i < unknown_at.size(); ++i) known_before[unknown_at[i]] = (*stored)[i];
    }
    // A request of several events must be all or nothing, so they run on a copy of the state;
    // a single event is validated before it touches the live state, so it needs no copy.
    // A request of usage events only (the hot path) is applied to the live state and, when one
    // of them fails, reverted event by event (unapply_usage) instead of copying the state.
    // Events already stored are answered, not applied: they do not count.
    size_t new_events = 0;
    bool only_usage = true;
    for (size_t index = 0; index < request.inputs.size(); ++index) {
      if (known_before[index]) continue;
      ++new_events;
      only_usage = only_usage &&
                   packed_event(request.inputs[index]).body_type() == fb::EventBody::UsageRecorded;
    }
    std::optional<Registry> scratch;
    if (new_events > 1 && !only_usage) scratch = registry_;
    Registry& state = scratch ? *scratch : registry_;
    const bool revert_usage = new_events > 1 && only_usage;
    const std::optional<Month> earliest_usage_before = registry_.billing.earliest_usage_month;
    std::vector<std::pair<size_t, Micros>> applied_usage;  // record index, prior last_usage_at
    UsageLookup usage_lookup;  // what validate looked up for the event being applied
    // The accounts of a request of many usage events, found ahead of their validation (it is
    // applied to the live state, which nothing replaces before the request ends).
    std::optional<UsagePrefetch> ahead;
    if (revert_usage) {
      std::vector<UsageAhead> usage(request.inputs.size());
      for (size_t index = 0; index < request.inputs.size(); ++index) {
        if (known_before[index]) continue;
        const fb::Event& event = packed_event(request.inputs[index]);
        const fb::UsageRecorded& body = *event.body_as_UsageRecorded();
        usage[index] =
            UsageAhead{flatbuffers::GetStringView(body.account_id()), event.occurred_at(),
                       flatbuffers::GetStringView(body.usage_type())};
      }
      ahead.emplace(registry_, std::move(usage));
    }

    for (size_t index = 0; index < request.inputs.size() && outcome.status.is_ok(); ++index) {
      const AppendInput& input = request.inputs[index];
      // Asked for ahead, in stages (the inputs were filled on a connection's thread and last
      // read here a whole request ago): the id and packed event of the input 16 on; the id's
      // table slots for the claim 8 on; the packed event's bytes, which its record copies, 4 on.
      if (index + 16 < request.inputs.size()) {
        const AppendInput& far = request.inputs[index + 16];
        __builtin_prefetch(&far.event_id);
        __builtin_prefetch(&far.packed);
      }
      if (index + 8 < request.inputs.size()) {
        unfinished_ids_.prefetch(request.inputs[index + 8].event_id);
      }
      if (index + 4 < request.inputs.size()) {
        const std::string& bytes = request.inputs[index + 4].packed->bytes;
        for (size_t at = 0; at < bytes.size(); at += 64) __builtin_prefetch(bytes.data() + at);
      }
      const PackedEvent& packed = *input.packed;
      const Hash& content = packed.content_hash;
      std::optional<EventIdEntry> known = known_before[index];
      // A new id is claimed for this event in the one lookup that also finds it when an earlier
      // event of this request used it (known_before holds every other use). The claim is
      // withdrawn if the event is refused.
      std::optional<EventIdMap::iterator> claimed;
      if (!known) {
        auto [it, inserted] = unfinished_ids_.try_emplace(
            input.event_id, EventIdEntry{request_position + 1, content});
        if (inserted) {
          claimed = it;
        } else {
          known = it->second;
        }
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

      // The group's records, reserved whole, are written once each into memory last used long
      // before: the record 4 on is asked for ahead, for writing (both of its lines).
      if (records.size() + 4 < records.capacity()) {
        const char* ahead = reinterpret_cast<const char*>(records.data() + records.size() + 4);
        __builtin_prefetch(ahead, /*rw=*/1);
        __builtin_prefetch(ahead + 64, /*rw=*/1);
      }
      NewRecord record;
      record.position = request_position + 1;
      record.recorded_at = recorded_at;
      record.event_id = input.event_id;
      // Its prev_hash and its own hash come with the write (write_group).
      record.bytes =
          encode_record(record.position, recorded_at, input.event_id, actor, Hash{}, packed.bytes);
      const fb::EventRecord* root = fb::GetEventRecord(record.bytes.data());
      const UsageFound found_ahead = ahead ? ahead->found(index) : UsageFound{};
      const EventContext context{record.position, recorded_at,   actor,
                                 &ledger_writes,  &usage_lookup, found_ahead};
      // Who may append it, then whether it is valid, then its secret (which needs the
      // account the validation found).
      Status accepted = authorize_append(state, *root->event(), request.principal);
      if (accepted.is_ok()) accepted = validate(state, *root->event(), context);
      // Skipped for an event without a secret whose type needs none, which it asks of the
      // record, in the cache: the input's own event was last touched long before.
      if (accepted.is_ok() && (carries_secrets || needs_secret(root->event()->body_type()))) {
        accepted = take_secret(state, input, *root->event(), recorded_at, credential_writes);
      }
      if (!accepted.is_ok()) {
        unfinished_ids_.erase(*claimed);
        fail(index, std::move(accepted));
        break;
      }
      if (revert_usage) {
        // validate found the account (a request that needs reverting is of usage only).
        const Account* account =
            usage_lookup.account != nullptr
                ? usage_lookup.account
                : state.find_account(
                      root->event()->body_as_UsageRecorded()->account_id()->string_view());
        applied_usage.emplace_back(records.size(), account->last_usage_at);
      }
      apply(state, *root->event(), context);
      if (!scratch) live_state_changed = true;
      request_position = record.position;
      outcome.positions[index] = record.position;
      records.push_back(std::move(record));
    }
    if (!outcome.status.is_ok()) {
      // Nothing of a refused request survives: its usage is reverted, its records and ledger
      // writes are dropped (a single refused event never reached the live state, and other
      // requests of several events ran on a copy).
      for (auto it = applied_usage.rbegin(); it != applied_usage.rend(); ++it) {
        unapply_usage(registry_, *fb::GetEventRecord(records[it->first].bytes.data())->event(),
                      it->second);
      }
      if (!applied_usage.empty()) registry_.billing.earliest_usage_month = earliest_usage_before;
      forget_ids(records.begin() + static_cast<ptrdiff_t>(records_before), records.end());
      records.resize(records_before);
      ledger_writes.resize(writes_before);
      credential_writes.resize(credentials_before);
      continue;
    }
    if (scratch) {
      registry_ = std::move(*scratch);
      live_state_changed = true;
    }
    outcome.stored = records.size() - records_before;
    position = request_position;
  }

  group.head.position = position;
  pending_.push_back(Pending{position, recorded_at});
  return group;
}

void Engine::merge_groups(PreparedGroup& earlier, PreparedGroup&& later) {
  auto append = [](auto& into, auto& from) {
    into.insert(into.end(), std::make_move_iterator(from.begin()),
                std::make_move_iterator(from.end()));
  };
  append(earlier.outcomes, later.outcomes);
  append(earlier.records, later.records);
  append(earlier.ledger_writes, later.ledger_writes);  // in order: the last value of a key wins
  append(earlier.credential_writes, later.credential_writes);
  earlier.live_state_changed = earlier.live_state_changed || later.live_state_changed;
  earlier.head = later.head;
  Pending last = std::move(pending_.back());
  pending_.pop_back();
  pending_.back().position = last.position;
  pending_.back().recorded_at = last.recorded_at;
}

void Engine::forget_ids(std::vector<NewRecord>::const_iterator begin,
                        std::vector<NewRecord>::const_iterator end) {
  // The ids were claimed a whole group or two ago, and the table is about a megabyte: each
  // erasure waited on its slot (half the sequencer's key comparisons). The slot of the id 8 on
  // is asked for ahead.
  constexpr ptrdiff_t kAhead = 8;
  for (auto it = begin; it != end; ++it) {
    if (end - it > kAhead) unfinished_ids_.prefetch((it + kAhead)->event_id);
    unfinished_ids_.erase(it->event_id);
  }
}

void Engine::finish_group(PreparedGroup& group, const Status& written) {
  pending_.pop_front();
  // Stored or not, the store answers for its ids from now on.
  forget_ids(group.records.begin(), group.records.end());
  if (!written.is_ok()) {
    // Nothing of the group is stored (a failed log write may still bring it back whole when the
    // store reopens: Store::recover_writes), but the live state may hold its events, and those
    // of the groups prepared after it, which must fail too.
    for (AppendOutcome& outcome : group.outcomes) {
      if (!outcome.status.is_ok()) continue;
      outcome.status = written;
      outcome.failed_index = AppendOutcome::kWholeRequest;
      outcome.positions.clear();
      outcome.stored = 0;
    }
    state_ahead_of_store_ = state_ahead_of_store_ || group.live_state_changed;
  }
  if (pending_.empty() && state_ahead_of_store_) {
    // The live state may hold events the store does not: rebuild it now, so no query sees
    // them; if even that fails, appends stay suspended until a rebuild succeeds.
    if (!recover().is_ok()) needs_recovery_ = true;
    state_ahead_of_store_ = false;
  }
  // A group that stored nothing leaves the head of the group before it, finished just now:
  // the store's head may be further on, as the writer goes on with the groups after it.
  const Head head = !written.is_ok()        ? store_->head().value()
                    : group.records.empty() ? finished_head_
                                            : group.head;
  finished_head_ = head;
  for (AppendOutcome& outcome : group.outcomes) outcome.head = head;
  if (written.is_ok() && pending_.empty() && checkpoint_due()) {
    // Taken only when the state is exactly the store's (no group prepared after this one).
    checkpoint_in_background();
  }
}

}  // namespace orgledger
