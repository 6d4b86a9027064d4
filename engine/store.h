// The embedded event log on RocksDB (docs/format.md): gapless positions from 1, a SHA-256 hash
// chain over the stored bytes, exactly-once event ids, atomic synced batches.
//
// The Store is a leaf: it stores what it is given and checks only the log's own invariants
// (contiguous positions). Domain validation and record building belong to its caller (Engine).
// Thread-safety: reads may run concurrently with each other and with one writer; `append` must
// be called by one thread at a time (the single writer).
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "projections/event_json.h"
#include "projections/registry.h"
#include "projections/sha256.h"
#include "projections/status.h"
#include "projections/values.h"
#include "replay/record_source.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Env;
class PinnableSlice;
class Slice;
class Status;
class WriteBatch;
}  // namespace rocksdb

namespace orgledger {

class BackgroundErrors;  // store.cpp

struct StoreOptions {
  // Offline tools open read-only: no lock is taken and nothing is written.
  bool read_only = false;
  // Create an empty store when `directory` holds none (ignored when read_only).
  bool create_if_missing = true;
  // The environment whose file system RocksDB does its file I/O through (its clock and threads
  // are the operating system's); null is the operating system's. The fault tests pass one that
  // fails writes and syncs on demand.
  std::shared_ptr<rocksdb::Env> env;

  // For offline tools: read-only, and NotFound when there is no store.
  static StoreOptions existing_read_only() {
    StoreOptions options;
    options.read_only = true;
    options.create_if_missing = false;
    return options;
  }
};

// Where an event id was stored, and the content hash of the event stored there (docs/format.md,
// "Exactly once").
struct EventIdEntry {
  uint64_t position = 0;
  Hash content_hash{};
};

// A record ready to store, built and chained by the caller.
struct NewRecord {
  uint64_t position = 0;
  std::string bytes;   // the EventRecord FlatBuffer; what is hashed
  Hash record_hash{};  // SHA-256(bytes)
  EventIdBytes event_id{};
  Micros recorded_at = 0;
};

// Puts to the `credentials` column family (keys in store_format.h): written in the same batch
// as the PasswordChanged / MfaEnabled events they go with.
using CredentialWrites = std::vector<std::pair<std::string, std::string>>;

class Store final : public RecordSource {
 public:
  // Opens (or creates) the store in `directory`. Errors: NotFound when read-only and no store
  // exists; FailedPrecondition/UnsupportedFormatVersion for a store of another format version;
  // Unavailable/StorageError when RocksDB cannot open it (for example, locked by a server).
  static Result<std::unique_ptr<Store>> open(const std::string& directory,
                                             const StoreOptions& options = {});
  ~Store() override;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Result<Head> head() const override;
  Status scan(uint64_t from, uint64_t to, const RecordVisitor& visit) const override;
  Status scan_to_copy(uint64_t from, uint64_t to, const RecordVisitor& visit) const override;

  // recorded_at of the head record (0 for an empty log).
  Micros head_recorded_at() const;

  // The entry for `event_id`, or nullopt when it was never stored. The content hash of an id
  // stored since format version 3 is that of its record's event (a read of the record: only an
  // id found stored, a retry, costs one). DataLoss when the entry or its record is corrupt.
  Result<std::optional<EventIdEntry>> find_event_id(const EventIdBytes& event_id) const;
  // The same for several ids at once, in their order.
  Result<std::vector<std::optional<EventIdEntry>>> find_event_ids(
      std::span<const EventIdBytes> event_ids) const;

  // The stored bytes at `position`; NotFound past the head.
  Result<std::string> read(uint64_t position) const;

  // Appends `records` (positions head+1, head+2, ...) with their event ids, the new head and the
  // `ledger` entries they change, in one WriteBatch written with sync=true: returns after the
  // batch is durable, all or nothing. FailedPrecondition when positions are not contiguous with
  // the head; Unavailable or ResourceExhausted when the write fails (nothing was stored).
  // `credentials` are written in the same batch (the secrets of PasswordChanged/MfaEnabled).
  Status append(const std::vector<NewRecord>& records, const LedgerWrites& ledger = {},
                const CredentialWrites& credentials = {});

  // The credentials family (docs/security.md): secrets, never in the log. get_credential
  // answers nullopt for an absent key; put_credential writes one key synced (the TOTP step
  // last accepted); scan_credentials visits the keys starting with `prefix`.
  Result<std::optional<std::string>> get_credential(std::string_view key) const;
  Status put_credential(std::string_view key, std::string_view value);
  Status scan_credentials(
      std::string_view prefix,
      const std::function<void(std::string_view key, std::string_view value)>& visit) const;

  // Stores a checkpoint of the state at `position` (docs/format.md "Checkpoints") and deletes
  // the older ones. Written synced, in its own batch: a checkpoint only shortens start-up, so
  // losing one costs a longer replay, never data.
  Status put_checkpoint(uint64_t position, std::string_view value);
  // The newest checkpoint: (position, value), or nullopt when there is none.
  Result<std::optional<std::pair<uint64_t, std::string>>> latest_checkpoint() const;

  // Visits every entry of the `ledger` family in key order (for audits and tests).
  Status scan_ledger(
      const std::function<void(std::string_view key, std::string_view value)>& visit) const;

  // Writes every memtable out to table files and waits for it. The content is unchanged;
  // RocksDB flushes on its own, so only tools and the fault tests call this.
  Status flush() const;

  // RocksDB's work in the background at this moment, for operators (the server's stats) and
  // for measurements that wait until the store is at rest.
  struct BackgroundWork {
    uint64_t running_flushes = 0;
    uint64_t running_compactions = 0;
    // RocksDB's estimate of the bytes compactions still have to rewrite, all families.
    uint64_t pending_compaction_bytes = 0;
  };
  Result<BackgroundWork> background_work() const;

  const std::string& directory() const { return directory_; }

  // After a failed write RocksDB refuses writes; so does the store, with Unavailable, until
  // recover_writes() succeeds. That resumes RocksDB in place when it can, else closes and
  // reopens it (reads wait meanwhile; the head is reloaded, as the log replay may bring back a
  // failed batch whole). Unavailable / ResourceExhausted while the disk still fails; reads are
  // then served from a read-only open. Called by the single writer.
  bool writes_failed() const { return write_failed_.load(); }
  Status recover_writes();
  // Whether RocksDB's writes may be stopped: a write failed, or RocksDB reported an error in
  // the background (a failed flush or compaction) since its writes last resumed. Called by
  // the single writer, which then calls recover_writes().
  bool writes_stopped() const;

 private:
  Store() = default;
  Status load_head();
  // Opens db_ and the family handles (creating them when `create`); db_ must be closed.
  Status open_db(bool read_only, bool create);
  Status scan_records(uint64_t from, uint64_t to, bool aligned, const RecordVisitor& visit) const;
  // Looks `keys`, in key order, up in one RocksDB MultiGet of `family` (a member: the handles
  // change when the store reopens, so it is read under the lock); `values` and `reads` are
  // sized as `keys`.
  Status multi_get(rocksdb::ColumnFamilyHandle* Store::*family,
                   const std::vector<rocksdb::Slice>& keys,
                   std::vector<rocksdb::PinnableSlice>& values,
                   std::vector<rocksdb::Status>& reads) const;
  // Sets the content hash of each entries[i], i in `at`, to that of the event in the record at
  // its position; DataLoss when there is no record there or it is another event id's.
  Status hash_from_records(std::span<const EventIdBytes> event_ids,
                           std::vector<std::optional<EventIdEntry>>& entries,
                           std::vector<size_t> at) const;
  void close_db();
  // Unavailable when db_ is closed (a reopen after a failed write failed too).
  Status usable() const;
  // Writes the batch `fill` builds, synced, under the shared lock of db_ (the column family
  // handles change when recover_writes reopens it); a failure marks the store writes_failed().
  // With `resume` (the single writer only: resuming may reopen RocksDB), a batch that RocksDB
  // refused before it reached the log, because an earlier background error such as a failed
  // flush had stopped its writes, is written once more after the store resumes.
  Status write_synced(std::string_view what,
                      const std::function<Status(rocksdb::WriteBatch&)>& fill, bool resume = false);
  // One attempt of write_synced; `refused_before_log` tells whether a failed batch was refused
  // before it could reach RocksDB's log.
  Status write_once(std::string_view what, const std::function<Status(rocksdb::WriteBatch&)>& fill,
                    bool* refused_before_log);

  std::string directory_;
  bool read_only_ = false;
  // engine/wal_cache.h over the options' file system; outlives db_.
  std::shared_ptr<rocksdb::Env> env_;
  std::unique_ptr<rocksdb::DB> db_;
  bool db_writable_ = false;  // false while db_ is a read-only stand-in (recover_writes)
  // Owned handles; destroyed before db_.
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* events_ = nullptr;
  rocksdb::ColumnFamilyHandle* event_ids_ = nullptr;
  rocksdb::ColumnFamilyHandle* ledger_ = nullptr;
  rocksdb::ColumnFamilyHandle* checkpoints_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* credentials_ = nullptr;
  std::atomic<bool> write_failed_{false};
  // The errors RocksDB reported (an EventListener on every open of db_), and how many of them
  // were reported before writes last resumed: more means RocksDB's writes are stopped.
  std::shared_ptr<BackgroundErrors> background_errors_;
  uint64_t errors_when_resumed_ = 0;  // guarded by db_mutex_
  // Shared by every use of db_, exclusive while recover_writes() reopens it.
  mutable std::shared_mutex db_mutex_;
  mutable std::mutex head_mutex_;
  Head head_;                    // guarded by head_mutex_
  Micros head_recorded_at_ = 0;  // guarded by head_mutex_
};

}  // namespace orgledger
