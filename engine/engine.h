// The embedded engine: one Store plus the registry state it implies, and the append path
// (validate against the state as left by the events before, chain, write synced, apply).
//
// Thread-safety: not thread-safe; one owner calls it (the CLI today, the sequencer thread of
// the server later). Start-up recovery is the one recovery path: open() folds the log.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/store.h"
#include "projections/authorization.h"
#include "projections/credentials.h"
#include "projections/event_json.h"
#include "projections/registry.h"
#include "projections/status.h"
#include "replay/record.h"

namespace orgledger {

struct EngineOptions {
  StoreOptions store;
  // The sequencer's clock (µs since epoch, UTC). recorded_at = max(clock(), head recorded_at),
  // so recorded_at never decreases along the log.
  std::function<Micros()> clock;
  // Write a checkpoint of the state after this many new events (0: never). A checkpoint costs a
  // copy of the state on the sequencer and a pause in group merging, whatever the events were;
  // a start-up replays at most this many events, about a second's worth (docs/format.md).
  uint64_t checkpoint_every = 1'000'000;
};

struct AppendInput {
  EventIdBytes event_id{};
  // The event; left empty when `packed` is set, which is all the engine reads then.
  fb::EventT event;
  // PasswordChanged and MfaEnabled only: the secret (docs/security.md). It never reaches the
  // log; the credentials store keeps the argon2id hash of the password (`password_hash`, filled
  // by prepare_secrets) or the TOTP key.
  std::optional<CredentialSecret> secret;
  std::string password_hash;
  // pack_event(event), when it was packed before the sequencer (the server packs it on the
  // connection's thread); the engine packs it otherwise, before it reads the event.
  std::optional<PackedEvent> packed;
};

// Hashes the password of every input that carries one (argon2id: slow on purpose, so the
// server does it before the request reaches the sequencer). Internal when hashing fails.
Status prepare_secrets(std::vector<AppendInput>& inputs);

// One append request: its events, who appends them (checked against authorize_append and
// recorded as each record's actor), and optionally the head it expects.
struct AppendRequest {
  std::vector<AppendInput> inputs;
  Principal principal;
  std::optional<uint64_t> expected_head;
};

struct AppendOutcome {
  // failed_index when the failure concerns the whole request, not one event.
  static constexpr size_t kWholeRequest = static_cast<size_t>(-1);

  // OK, or the error of the first failing event (nothing was stored then).
  Status status;
  size_t failed_index = 0;  // index into the inputs when status is not OK, or kWholeRequest
  // Per input: its position (new, or the original one for an identical retry).
  std::vector<uint64_t> positions;
  size_t stored = 0;  // how many inputs were new
  Head head;          // the head after the append
};

// Event ids by id, hashed (looked up for every event of a group): a Swiss table, which keeps its
// entries in one array instead of a node per id.
using EventIdMap = absl::flat_hash_map<EventIdBytes, EventIdEntry>;

// A group validated and applied to the live state, not yet written (Engine::prepare_group).
struct PreparedGroup {
  std::vector<AppendOutcome> outcomes;
  std::vector<NewRecord> records;      // to store, in position order
  LedgerWrites ledger_writes;          // written in the same batch as the events they come from
  CredentialWrites credential_writes;  // likewise: the secrets of PasswordChanged/MfaEnabled
  bool live_state_changed = false;
  // After the group. Its hash is known once write_group has chained the records, or, for a
  // group that stores nothing, once finish_group has finished the group before it.
  Head head;
};

// The state at the head of `store`: its latest checkpoint (when it decodes to the digest stored
// with it) plus a fold of the log after it, else a fold of the whole log. Sets
// `*checkpoint_position` (when given) to the checkpoint used, 0 for none. DataLoss when the log
// cannot be folded. Works on read-only stores too.
Result<Registry> load_state(const Store& store, uint64_t* checkpoint_position = nullptr);

class Engine {
 public:
  // Opens the store in `directory` and rebuilds the registry from it. Errors as Store::open,
  // and DataLoss when the log cannot be folded.
  static Result<std::unique_ptr<Engine>> open(const std::string& directory,
                                              EngineOptions options = {});
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  ~Engine();  // waits for a checkpoint being written

  // Appends `inputs` atomically as `principal`: every new event is authorized and validated
  // against the state as left by the events before it; if one fails, nothing is stored and
  // the outcome names it. A PasswordChanged needs its password (checked against the policy),
  // an MfaEnabled its TOTP seed and a current code; their secrets go to the credentials family
  // in the same batch.
  // An input whose event_id is stored with identical content is not stored again (its original
  // position is answered); the same id with other content is AlreadyExists/DuplicateEventId.
  // Returns after the batch is synced.
  AppendOutcome append(std::vector<AppendInput> inputs, const Principal& principal);

  // Group commit: appends several requests in one synced WriteBatch. Each request is all or
  // nothing and is validated against the state as left by the requests accepted before it in
  // the group; `expected_head` is compared with the head as those requests leave it (a
  // mismatch is Aborted/WrongExpectedHead). If the write fails, every request of the group
  // fails with the write's error and the state is rebuilt from the store.
  std::vector<AppendOutcome> append_group(std::vector<AppendRequest> requests);

  // append_group in three steps, so the sequencer can validate the next group while one is
  // being written (docs/decisions.md "Write path"). prepare_group validates and applies a
  // group to the live state, continuing the head of the groups prepared and not finished yet;
  // write_group chains its records to the store's head (their prev_hash and hash) and stores
  // them (may run on another thread, concurrently with prepare_group and
  // merge_groups of later groups and with finish_group of earlier ones, never with another
  // write_group); finish_group completes the groups in the order they were prepared, with
  // their write's status (on the thread that prepares them). When a write failed,
  // every group prepared after it must be finished with that failure too, unwritten; once none
  // is left the live state is rebuilt from the store. The live state holds the unfinished
  // groups, so queries must wait until none is left (no group pending).
  PreparedGroup prepare_group(std::vector<AppendRequest> requests);
  // Folds `later`, the group prepared last, into `earlier`, the one prepared just before it
  // (neither written yet): one write then stores both, and one finish answers both.
  void merge_groups(PreparedGroup& earlier, PreparedGroup&& later);
  Status write_group(PreparedGroup& group);
  void finish_group(PreparedGroup& group, const Status& written);
  // Whether groups are prepared and not finished.
  bool groups_pending() const { return !pending_.empty(); }
  // Whether a checkpoint is due: finish_group starts it once no group is pending.
  bool checkpoint_due() const;

  // Writes a checkpoint of the state at the head now, on this thread, once no group is
  // pending; RocksDB's writes are resumed first if an error stopped them. A failure costs only
  // start-up time.
  Status checkpoint();
  // The position of the checkpoint open() started from (0: it replayed the whole log).
  uint64_t loaded_checkpoint() const { return loaded_checkpoint_; }

  const Registry& registry() const { return registry_; }
  const Store& store() const { return *store_; }
  Store& credential_store() { return *store_; }  // see Sequencer::credential_store

 private:
  Engine() = default;

  // Loads the latest checkpoint (if it decodes and its digest matches) and folds the log after
  // it; otherwise folds the whole log.
  Status recover();
  // With no group pending: resumes the store's writes (when `resume_writes`), then rebuilds the
  // state if that, or an earlier failure, left it possibly apart from the store's.
  Status recover_from_failure(bool resume_writes);

  // The checkpoint finish_group takes: the state is copied here, then encoded, hashed and stored
  // on another thread, so that appends pause only for the copy (a 2,000,000-event state: ~11 ms
  // instead of ~40 ms of encoding and hashing plus the write). Skipped while the one before is
  // still being written; checkpoint_due() then stays true.
  void checkpoint_in_background();
  static Status write_checkpoint(Store& store, uint64_t head, const Registry& state);

  std::unique_ptr<Store> store_;
  Registry registry_;
  EngineOptions options_;
  uint64_t loaded_checkpoint_ = 0;
  uint64_t last_checkpoint_ = 0;
  std::thread checkpointer_;
  std::atomic<bool> checkpointing_ = false;  // checkpointer_ is writing one
  // Set when a rebuild of the state failed; prepare_group retries it first.
  bool needs_recovery_ = false;
  // Set when a failed group had changed the live state: rebuilt once no group is pending.
  bool state_ahead_of_store_ = false;
  // The groups prepared and not finished, oldest first: the head position each leaves and the
  // recorded_at it gave.
  struct Pending {
    uint64_t position = 0;
    Micros recorded_at = 0;
  };
  std::deque<Pending> pending_;
  // The head after the group finished last (the store's when none was pending since).
  Head finished_head_;
  // The ids of every record of those groups, with the position and content each has there:
  // one table for all of them, so an id is looked up once, not once per pending group and
  // again per request. An id is in it at most once (a later use of it is answered from here).
  EventIdMap unfinished_ids_;
  // The position the next group continues from.
  uint64_t base_position() const;
  // Removes the ids of these records from unfinished_ids_.
  void forget_ids(std::vector<NewRecord>::const_iterator begin,
                  std::vector<NewRecord>::const_iterator end);
};

}  // namespace orgledger
