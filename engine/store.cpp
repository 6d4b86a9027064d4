#include "engine/store.h"

#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <shared_mutex>

#include "engine/id_memtable.h"
#include "engine/store_format.h"
#include "engine/wal_cache.h"
#include "replay/record.h"

namespace orgledger {
namespace {

namespace format = store_format;

Status from_rocksdb(const rocksdb::Status& status, std::string_view what) {
  if (status.ok()) return Status::ok();
  std::string message = std::string(what) + ": " + status.ToString();
  if (status.IsNoSpace()) {
    return Status(Code::kResourceExhausted, Reason::kStorageError, std::move(message));
  }
  if (status.IsCorruption())
    return Status(Code::kDataLoss, Reason::kStorageError, std::move(message));
  if (status.IsNotFound())
    return Status(Code::kNotFound, Reason::kStorageError, std::move(message));
  return Status(Code::kUnavailable, Reason::kStorageError, std::move(message));
}

rocksdb::Slice slice(std::string_view bytes) { return rocksdb::Slice(bytes.data(), bytes.size()); }

rocksdb::Slice slice(const EventIdBytes& id) {
  return rocksdb::Slice(reinterpret_cast<const char*>(id.data()), id.size());
}

const auto& family_names() { return format::kFamilies; }

// RocksDB counts into a thread-local perf context on every memtable insert and lookup unless
// the calling thread turns it off (the level is per thread). Nothing reads those counts, and
// from a shared library each one is a TLS lookup: off on the threads that write, look up and
// scan.
void without_perf_counts() { rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable); }

// Whether `version`, the meta family's decimal text, is a format this orgledger reads.
bool readable_format_version(std::string_view version) {
  for (uint32_t readable = format::kOldestReadableFormatVersion; readable <= format::kFormatVersion;
       ++readable) {
    if (version == std::to_string(readable)) return true;
  }
  return false;
}

// The table options every family starts from. Blocks are checksummed with XXH3 instead of
// RocksDB's default CRC32c: Debian's RocksDB is built for any x86-64 ("Fast CRC32 supported: Not
// supported on x86" in its LOG), so its CRC32c is the table-driven one, paid on every block a
// flush or a compaction writes and every block a read verifies. Each table file records its
// checksum type, so files written either way read either way.
rocksdb::BlockBasedTableOptions table_options() {
  rocksdb::BlockBasedTableOptions table;
  table.checksum = rocksdb::kXXH3;
  return table;
}

// A family's options with `table` for its table files.
rocksdb::ColumnFamilyOptions with_tables(const rocksdb::BlockBasedTableOptions& table) {
  rocksdb::ColumnFamilyOptions options;
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return options;
}

// Every append looks up each new event id, and nearly all are absent: whole-key Bloom filters
// on the table files and the memtable answer those lookups without reading blocks or walking
// the skiplist. 20 bits per id keep a table file's false positives (each a block read) under
// 0.1 %, where 10 bits give about 1 % per file probed. Options only, not the stored format.
rocksdb::ColumnFamilyOptions event_ids_options() {
  rocksdb::BlockBasedTableOptions table = table_options();
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(20));
  table.whole_key_filtering = true;
  rocksdb::ColumnFamilyOptions options = with_tables(table);
  // Ids are only ever looked up whole, never iterated: a hashed memtable inserts without a
  // skiplist search on the writer thread, and sorts once, when RocksDB's flush thread writes it
  // out (engine/id_memtable.h, docs/decisions.md "Write path"). The prefix extractor (the whole
  // id) is what RocksDB's hash memtable, the fallback, needs.
  options.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(std::tuple_size_v<EventIdBytes>));
  options.memtable_factory = event_ids_memtable_factory();
  // The memtables' own Bloom filter over that prefix (the whole id): a batched lookup probes
  // it for every key first and asks the memtable only for the few it may hold. 2 % of the
  // write buffer is about 13 bits per id.
  options.memtable_prefix_bloom_size_ratio = 0.02;
  // Random keys: every flushed file overlaps the whole next level, so each compaction rewrites
  // it. Memtables twice the default size halve the number of those rewrites (10 M bulk:
  // compaction thread 6.8 -> 4.7 s) for about 80 MB more memory.
  options.write_buffer_size = 128 << 20;
  return options;
}

// Ledger entries are written with every group and never looked up one by one (only scanned
// whole, by the consistency checks): a memtable that sorts once, at flush, comparing the bytes
// itself, and in which an aggregate's new value overwrites its old one (engine/id_memtable.h).
// In place, an iterator or a snapshot of this family may see a newer value than its own time:
// nothing reads the ledger while it is written.
rocksdb::ColumnFamilyOptions ledger_options() {
  rocksdb::ColumnFamilyOptions options = with_tables(table_options());
  options.memtable_factory = ledger_memtable_factory();
  options.inplace_update_support = id_memtable_works();
  // Each overwrite in place takes one of these locks (by the key's hash) against a reader of
  // the same entry. The writer is the only one taking them, nearly every time uncontended: a
  // few dozen stay in the cache, where RocksDB's default 10,000 (560 KB) cost the writer thread
  // a cache miss per aggregate.
  options.inplace_update_num_locks = 64;
  return options;
}

// Table files are compressed with LZ4 where the RocksDB build has it (Debian's does): it reads
// back faster than the default Snappy at the same size, and the audit (verify, replay) reads
// every record. Event ids (random bytes, and hashes) do not compress and are left as they are. Each
// block records its own compression, so a store written either way opens either way.
rocksdb::CompressionType table_compression(std::string_view family) {
  if (family == format::kEventIdsFamily) return rocksdb::kNoCompression;
  static const bool has_lz4 = [] {
    const auto supported = rocksdb::GetSupportedCompressions();
    return std::find(supported.begin(), supported.end(), rocksdb::kLZ4Compression) !=
           supported.end();
  }();
  return has_lz4 ? rocksdb::kLZ4Compression : rocksdb::kSnappyCompression;
}

// Records are read back in runs (replay, verify, reads and subscriptions), rarely one by one:
// 32 KiB blocks instead of 4 KiB compress better and cost fewer reads per record. 2 M events:
// 365 -> 324 MB, verify a little faster.
rocksdb::ColumnFamilyOptions events_options() {
  rocksdb::BlockBasedTableOptions table = table_options();
  table.block_size = 32 * 1024;
  rocksdb::ColumnFamilyOptions options = with_tables(table);
  // Room for a second full memtable waiting for its flush. With RocksDB's default of two, a
  // memtable of records that filled while the single flush thread was still writing out the
  // ids' stopped every write ("Stopping writes because we have 2 immutable memtables") for
  // 85-95 ms, once or twice per 10 M-event bulk load. The third is used only while the flush
  // lags: peak RSS unchanged (480 MiB).
  options.max_write_buffer_number = 3;
  // Records come in position order, the key order: a memtable that appends them instead of
  // linking each into a skiplist (engine/id_memtable.h).
  options.memtable_factory = events_memtable_factory();
  return options;
}

rocksdb::ColumnFamilyOptions family_options(std::string_view name) {
  rocksdb::ColumnFamilyOptions options = with_tables(table_options());
  if (name == format::kEventsFamily) options = events_options();
  if (name == format::kEventIdsFamily) options = event_ids_options();
  if (name == format::kLedgerFamily) options = ledger_options();
  options.compression = table_compression(name);
  return options;
}

}  // namespace

// Counts the errors RocksDB reports from its flushes, compactions and writes. Each one stops
// RocksDB's writes until they resume (Store::recover_writes); a write that fails while no new
// error is reported was refused at the door, before its batch reached the log.
class BackgroundErrors final : public rocksdb::EventListener {
 public:
  const char* Name() const override { return "orgledger.BackgroundErrors"; }
  void OnBackgroundError(rocksdb::BackgroundErrorReason /*reason*/,
                         rocksdb::Status* error) override {
    if (!error->ok()) count_.fetch_add(1);
  }
  uint64_t count() const { return count_.load(); }

 private:
  std::atomic<uint64_t> count_{0};
};

Result<std::unique_ptr<Store>> Store::open(const std::string& directory,
                                           const StoreOptions& options) {
  std::unique_ptr<Store> store(new Store());
  store->directory_ = directory;
  store->read_only_ = options.read_only;

  rocksdb::DBOptions db_options;
  if (options.env) db_options.env = options.env.get();
  std::vector<std::string> existing;
  const bool exists = rocksdb::DB::ListColumnFamilies(db_options, directory, &existing).ok();
  if (!exists && (options.read_only || !options.create_if_missing)) {
    return Status(Code::kNotFound, Reason::kStorageError,
                  "no orgledger store in \"" + directory + "\"");
  }
  if (exists) {
    for (std::string_view name : family_names()) {
      if (std::find(existing.begin(), existing.end(), name) == existing.end()) {
        return Status(Code::kFailedPrecondition, Reason::kUnsupportedFormatVersion,
                      "\"" + directory +
                          "\" is a RocksDB database but not an orgledger store "
                          "(column family \"" +
                          std::string(name) + "\" is missing)");
      }
    }
  }

  // RocksDB's file I/O goes through the given environment's file system, or the operating
  // system's, with the write-ahead log's durable pages dropped from the page cache
  // (engine/wal_cache.h).
  store->env_ = rocksdb::NewCompositeEnv(dropping_synced_wal_pages(
      options.env ? options.env->GetFileSystem() : rocksdb::FileSystem::Default()));
  ORGLEDGER_RETURN_IF_ERROR(store->open_db(options.read_only, !exists));
  rocksdb::DB* db = store->db_.get();

  std::string version;
  rocksdb::Status read =
      db->Get(rocksdb::ReadOptions(), store->meta_, slice(format::kFormatVersionKey), &version);
  if (read.IsNotFound()) {
    if (options.read_only) {
      return Status(Code::kFailedPrecondition, Reason::kUnsupportedFormatVersion,
                    "the store in \"" + directory + "\" has no format version");
    }
    rocksdb::WriteOptions sync;
    sync.sync = true;
    ORGLEDGER_RETURN_IF_ERROR(
        from_rocksdb(db->Put(sync, store->meta_, slice(format::kFormatVersionKey),
                             std::to_string(format::kFormatVersion)),
                     "cannot write the format version"));
  } else if (!read.ok()) {
    return from_rocksdb(read, "cannot read the format version");
  } else if (!readable_format_version(version)) {
    return Status(Code::kFailedPrecondition, Reason::kUnsupportedFormatVersion,
                  "the store in \"" + directory + "\" has format version \"" + version +
                      "\"; this orgledger reads versions " +
                      std::to_string(format::kOldestReadableFormatVersion) + " to " +
                      std::to_string(format::kFormatVersion));
  } else if (version != std::to_string(format::kFormatVersion) && !options.read_only) {
    // Marked first, and durably: an orgledger that reads only the old version then refuses the
    // store instead of meeting entries it cannot read.
    rocksdb::WriteOptions sync;
    sync.sync = true;
    ORGLEDGER_RETURN_IF_ERROR(
        from_rocksdb(db->Put(sync, store->meta_, slice(format::kFormatVersionKey),
                             std::to_string(format::kFormatVersion)),
                     "cannot write the format version"));
  }
  ORGLEDGER_RETURN_IF_ERROR(store->load_head());
  return store;
}

Status Store::open_db(bool read_only, bool create) {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = create && !read_only;
  db_options.create_missing_column_families = create && !read_only;
  if (env_) db_options.env = env_.get();
  if (!background_errors_) background_errors_ = std::make_shared<BackgroundErrors>();
  db_options.listeners.push_back(background_errors_);
  // One writer thread; the memtable of event_ids does not take concurrent inserts.
  db_options.allow_concurrent_memtable_write = false;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (std::string_view name : family_names()) {
    descriptors.emplace_back(std::string(name), family_options(name));
  }
  rocksdb::DB* db = nullptr;
  handles_.clear();
  const rocksdb::Status opened =
      read_only ? rocksdb::DB::OpenForReadOnly(db_options, directory_, descriptors, &handles_, &db)
                : rocksdb::DB::Open(db_options, directory_, descriptors, &handles_, &db);
  if (!opened.ok()) {
    handles_.clear();
    return from_rocksdb(opened, "cannot open the store in \"" + directory_ + "\"");
  }
  db_.reset(db);
  db_writable_ = !read_only;
  errors_when_resumed_ = background_errors_->count();
  events_ = handles_[1];
  event_ids_ = handles_[2];
  ledger_ = handles_[3];
  meta_ = handles_[4];
  checkpoints_ = handles_[5];
  credentials_ = handles_[6];
  return Status::ok();
}

void Store::close_db() {
  if (!db_) return;
  for (rocksdb::ColumnFamilyHandle* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
  handles_.clear();
  db_->Close().PermitUncheckedError();
  db_.reset();
}

Store::~Store() { close_db(); }

Status Store::usable() const {
  if (db_) return Status::ok();
  return Status(Code::kUnavailable, Reason::kStorageError,
                "the store is closed after a failed write and could not be reopened yet");
}

bool Store::writes_stopped() const {
  if (write_failed_.load()) return true;
  std::shared_lock lock(db_mutex_);
  return background_errors_->count() > errors_when_resumed_;
}

Status Store::recover_writes() {
  if (!writes_stopped()) return Status::ok();
  // Until this succeeds the store refuses writes, even when only RocksDB's background had
  // failed: a failed reopen below leaves a read-only stand-in.
  write_failed_.store(true);
  std::unique_lock exclusive(db_mutex_);
  // Errors RocksDB can resume from (a failed flush, a full disk during compaction) resume in
  // place; a failed log write is fatal to the open DB, which is closed and opened again.
  // Opening replays the write-ahead log: a batch whose write failed after its bytes reached
  // the log may come back whole, never in part.
  if (db_ && db_writable_ && db_->Resume().ok()) {
    errors_when_resumed_ = background_errors_->count();
    write_failed_.store(false);
    return Status::ok();
  }
  close_db();
  Status reopened = open_db(false, false);
  if (!reopened.is_ok()) {
    // Keep serving reads from what is durable until the disk accepts writes again.
    if (!open_db(true, false).is_ok()) close_db();
    return Status(reopened.code(), Reason::kStorageError,
                  "appends are suspended since a write failed: " + reopened.message());
  }
  ORGLEDGER_RETURN_IF_ERROR(load_head());
  write_failed_.store(false);
  return Status::ok();
}

Status Store::load_head() {
  std::string value;
  rocksdb::Status read = db_->Get(rocksdb::ReadOptions(), meta_, slice(format::kHeadKey), &value);
  Head head;
  Micros recorded_at = 0;
  if (read.ok()) {
    if (value.size() != format::kHeadValueSize) {
      return Status(Code::kDataLoss, Reason::kCorruptRecord, "the stored head has a bad size");
    }
    head.position = format::decode_u64(value.substr(0, 8));
    std::copy(value.begin() + 8, value.begin() + 40, head.hash.begin());
    recorded_at = static_cast<Micros>(format::decode_u64(value.substr(40, 8)));
  } else if (!read.IsNotFound()) {
    return from_rocksdb(read, "cannot read the head");
  }
  // The head and the events are written in one batch; a disagreement is corruption.
  std::unique_ptr<rocksdb::Iterator> last(db_->NewIterator(rocksdb::ReadOptions(), events_));
  last->SeekToLast();
  ORGLEDGER_RETURN_IF_ERROR(from_rocksdb(last->status(), "cannot read the last event"));
  const uint64_t last_position = last->Valid() ? format::decode_u64(last->key().ToStringView()) : 0;
  if (last_position != head.position) {
    return Status(Code::kDataLoss, Reason::kCorruptRecord,
                  "the stored head says position " + std::to_string(head.position) +
                      " but the last stored event is at " + std::to_string(last_position));
  }
  std::lock_guard lock(head_mutex_);
  head_ = head;
  head_recorded_at_ = recorded_at;
  return Status::ok();
}

Result<Head> Store::head() const {
  std::lock_guard lock(head_mutex_);
  return head_;
}

Micros Store::head_recorded_at() const {
  std::lock_guard lock(head_mutex_);
  return head_recorded_at_;
}

Status Store::scan(uint64_t from, uint64_t to, const RecordVisitor& visit) const {
  return scan_records(from, to, true, visit);
}

Status Store::scan_to_copy(uint64_t from, uint64_t to, const RecordVisitor& visit) const {
  return scan_records(from, to, false, visit);
}

Status Store::scan_records(uint64_t from, uint64_t to, bool aligned_bytes,
                           const RecordVisitor& visit) const {
  if (from > to) return Status::ok();
  std::shared_lock lock(db_mutex_);
  ORGLEDGER_RETURN_IF_ERROR(usable());
  without_perf_counts();
  rocksdb::ReadOptions read_options;
  // Folds read each record once; do not evict hotter blocks for them.
  read_options.fill_cache = false;
  std::string upper;
  rocksdb::Slice upper_slice;
  if (to != std::numeric_limits<uint64_t>::max()) {
    upper = format::position_key(to + 1);
    upper_slice = slice(upper);
    read_options.iterate_upper_bound = &upper_slice;
  }
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, events_));
  // FlatBuffers reads scalars in place, so records are handed out 8-byte aligned; values inside
  // RocksDB blocks are copied into this (heap-allocated, hence aligned) buffer when they are not.
  std::string aligned;
  for (it->Seek(slice(format::position_key(from))); it->Valid(); it->Next()) {
    const rocksdb::Slice key = it->key();
    if (key.size() != format::kPositionKeySize) {
      return Status(Code::kDataLoss, Reason::kCorruptRecord,
                    "an events key has " + std::to_string(key.size()) + " bytes instead of 8");
    }
    std::string_view value = it->value().ToStringView();
    if (aligned_bytes && reinterpret_cast<uintptr_t>(value.data()) % 8 != 0) {
      aligned.assign(value.data(), value.size());
      value = aligned;
    }
    const StoredRecord record{format::decode_u64(key.ToStringView()), value};
    if (visit(record) == ScanOutcome::kStop) return Status::ok();
  }
  return from_rocksdb(it->status(), "cannot read events");
}

Result<std::optional<EventIdEntry>> Store::find_event_id(const EventIdBytes& event_id) const {
  auto found = find_event_ids(std::span<const EventIdBytes>(&event_id, 1));
  if (!found.is_ok()) return found.status();
  return found->front();
}

Result<std::vector<std::optional<EventIdEntry>>> Store::find_event_ids(
    std::span<const EventIdBytes> event_ids) const {
  without_perf_counts();
  // Asked in key order, so RocksDB need not sort them through its comparator. The byte order
  // of two 16-byte ids is the order of their big-endian halves, compared as two integers
  // rather than by a call to memcmp for every comparison of the sort.
  struct Ordered {
    uint64_t high, low;
    uint32_t index;
  };
  std::vector<Ordered> order(event_ids.size());
  for (uint32_t i = 0; i < order.size(); ++i) {
    const std::string_view id = slice(event_ids[i]).ToStringView();
    order[i] = {format::decode_u64(id), format::decode_u64(id.substr(8)), i};
  }
  std::sort(order.begin(), order.end(), [](const Ordered& a, const Ordered& b) {
    return a.high != b.high ? a.high < b.high : a.low < b.low;
  });
  std::vector<rocksdb::Slice> keys;
  keys.reserve(event_ids.size());
  for (const Ordered& at : order) keys.push_back(slice(event_ids[at.index]));
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> reads(keys.size());
  ORGLEDGER_RETURN_IF_ERROR(multi_get(&Store::event_ids_, keys, values, reads));
  std::vector<std::optional<EventIdEntry>> entries(event_ids.size());
  std::vector<size_t> hashed_by_record;  // the entries of format version 3
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t i = order[k].index;
    if (reads[k].IsNotFound()) continue;
    ORGLEDGER_RETURN_IF_ERROR(from_rocksdb(reads[k], "cannot read an event id"));
    const std::string_view value = values[k].ToStringView();
    if (value.size() != format::kEventIdEntrySize && value.size() != format::kEventIdEntrySizeV2) {
      return Status(Code::kDataLoss, Reason::kCorruptRecord,
                    "the event_ids entry of " + to_hex(event_ids[i].data(), event_ids[i].size()) +
                        " has " + std::to_string(value.size()) + " bytes");
    }
    EventIdEntry entry;
    entry.position = format::decode_u64(value.substr(0, 8));
    if (value.size() == format::kEventIdEntrySizeV2) {
      std::copy(value.begin() + 8, value.end(), entry.content_hash.begin());
    } else {
      hashed_by_record.push_back(i);
    }
    entries[i] = entry;
  }
  if (!hashed_by_record.empty()) {
    ORGLEDGER_RETURN_IF_ERROR(hash_from_records(event_ids, entries, std::move(hashed_by_record)));
  }
  return entries;
}

Status Store::multi_get(rocksdb::ColumnFamilyHandle* Store::*family,
                        const std::vector<rocksdb::Slice>& keys,
                        std::vector<rocksdb::PinnableSlice>& values,
                        std::vector<rocksdb::Status>& reads) const {
  std::shared_lock lock(db_mutex_);
  ORGLEDGER_RETURN_IF_ERROR(usable());
  // One batched lookup: one view of the memtables and table files, and the filters probed for
  // all keys together.
  db_->MultiGet(rocksdb::ReadOptions(), this->*family, keys.size(), keys.data(), values.data(),
                reads.data(), /*sorted_input=*/true);
  return Status::ok();
}

Status Store::hash_from_records(std::span<const EventIdBytes> event_ids,
                                std::vector<std::optional<EventIdEntry>>& entries,
                                std::vector<size_t> at) const {
  // One batched read of the records, asked in position order (a retried request's events lie
  // together in the log).
  std::sort(at.begin(), at.end(),
            [&](size_t a, size_t b) { return entries[a]->position < entries[b]->position; });
  std::vector<std::string> keys;
  std::vector<rocksdb::Slice> slices;
  keys.reserve(at.size());
  slices.reserve(at.size());
  for (size_t i : at)
    slices.push_back(slice(keys.emplace_back(format::position_key(entries[i]->position))));
  std::vector<rocksdb::PinnableSlice> values(slices.size());
  std::vector<rocksdb::Status> reads(slices.size());
  ORGLEDGER_RETURN_IF_ERROR(multi_get(&Store::events_, slices, values, reads));
  std::string aligned;  // a record inside a cached block need not be 8-byte aligned
  for (size_t k = 0; k < at.size(); ++k) {
    const EventIdBytes& event_id = event_ids[at[k]];
    EventIdEntry& entry = *entries[at[k]];
    const std::string id = "event id " + to_hex(event_id.data(), event_id.size());
    auto corrupt = [&](std::string_view why) {
      return Status(Code::kDataLoss, Reason::kCorruptRecord,
                    id + " is stored at position " + std::to_string(entry.position) + ", " +
                        std::string(why));
    };
    if (reads[k].IsNotFound()) return corrupt("which holds no record");
    ORGLEDGER_RETURN_IF_ERROR(from_rocksdb(reads[k], "cannot read the record of " + id));
    aligned.assign(values[k].data(), values[k].size());
    auto record = decode_record(StoredRecord{entry.position, aligned});
    if (!record.is_ok()) return record.status().with_context(id);
    // A wrong entry must not pass for a retry of another event (its own would never be stored).
    const auto* recorded_id = (*record)->event_id()->bytes();
    if (!std::equal(event_id.begin(), event_id.end(), recorded_id->begin())) {
      return corrupt("whose record has another event id");
    }
    // The record's own bytes are not the content: its event is packed alone again, the same
    // bytes it was packed to when it was appended (pack_event is canonical).
    fb::EventT event;
    (*record)->event()->UnPackTo(&event);
    entry.content_hash = event_content_hash(event);
  }
  return Status::ok();
}

Result<std::string> Store::read(uint64_t position) const {
  std::shared_lock lock(db_mutex_);
  ORGLEDGER_RETURN_IF_ERROR(usable());
  std::string value;
  rocksdb::Status read =
      db_->Get(rocksdb::ReadOptions(), events_, slice(format::position_key(position)), &value);
  if (read.IsNotFound()) {
    return Status(Code::kNotFound, Reason::kNone,
                  "no record at position " + std::to_string(position));
  }
  ORGLEDGER_RETURN_IF_ERROR(from_rocksdb(read, "cannot read an event"));
  return value;
}

Status Store::put_checkpoint(uint64_t position, std::string_view value) {
  if (read_only_) {
    return Status(Code::kFailedPrecondition, Reason::kStorageError, "the store is open read-only");
  }
  const std::string key = format::position_key(position);
  std::shared_lock lock(db_mutex_);
  ORGLEDGER_RETURN_IF_ERROR(usable());
  rocksdb::WriteBatch batch;
  ORGLEDGER_RETURN_IF_ERROR(
      from_rocksdb(batch.DeleteRange(checkpoints_, format::position_key(0), key),
                   "cannot batch the checkpoint"));
  ORGLEDGER_RETURN_IF_ERROR(
      from_rocksdb(batch.Put(checkpoints_, key, slice(value)), "cannot batch the checkpoint"));
  // Not through the log: a checkpoint is megabytes, and appends share the log's synced writes.
  // It is made durable by flushing its family to a table file instead; a crash before that
  // loses it and the older checkpoint deleted with it, together, so the older one is used.
  rocksdb::WriteOptions unlogged;
  unlogged.disableWAL = true;
  ORGLEDGER_RETURN_IF_ERROR(
      from_rocksdb(db_->Write(unlogged, &batch), "cannot write a checkpoint"));
  rocksdb::FlushOptions flush;
  flush.wait = true;
  return from_rocksdb(db_->Flush(flush, checkpoints_), "cannot flush a checkpoint");
}

Result<std::optional<std::pair<uint64_t, std::string>>> Store::latest_checkpoint() const {
  std::shared_lock lock(db_mutex_);
  ORGLEDGER_RETURN_IF_ERROR(usable());
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), checkpoints_));
  it->SeekToLast();
  ORGLEDGER_RETURN_IF_ERROR(from_rocksdb(it->status(), "cannot read checkpoints"));
  if (!it->Valid()) return std::optional<std::pair<uint64_t, std::string>>();
  if (it->key().size() != format::kPositionKeySize) {
    return Status(Code::kDataLoss, Reason::kCorruptRecord, "a checkpoint key has a bad size");
  }
  return std::optional<std::pair<uint64_t, std::string>>(
      std::make_pair(format::decode_u64(it->key().ToStringView()), it->value().ToString()));
}

Status Store::scan_ledger(
    const std::function<void(std::string_view key, std::string_view value)>& visit) const {
  std::shared_lock lock(db_mutex_);
  ORGLEDGER_RETURN_IF_ERROR(usable());
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), ledger_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    visit(it->key().ToStringView(), it->value().ToStringView());
  }
  return from_rocksdb(it->status(), "cannot read the ledger");
}

Result<std::optional<std::string>> Store::get_credential(std::string_view key) const {
  std::shared_lock lock(db_mutex_);
  ORGLEDGER_RETURN_IF_ERROR(usable());
  std::string value;
  const rocksdb::Status read = db_->Get(rocksdb::ReadOptions(), credentials_, slice(key), &value);
  if (read.IsNotFound()) return std::optional<std::string>();
  ORGLEDGER_RETURN_IF_ERROR(from_rocksdb(read, "cannot read the credentials"));
  return std::optional<std::string>(std::move(value));
}

Status Store::scan_credentials(
    std::string_view prefix,
    const std::function<void(std::string_view key, std::string_view value)>& visit) const {
  std::shared_lock lock(db_mutex_);
  ORGLEDGER_RETURN_IF_ERROR(usable());
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), credentials_));
  for (it->Seek(slice(prefix)); it->Valid() && it->key().starts_with(slice(prefix)); it->Next()) {
    visit(it->key().ToStringView(), it->value().ToStringView());
  }
  return from_rocksdb(it->status(), "cannot read the credentials");
}

Status Store::put_credential(std::string_view key, std::string_view value) {
  if (read_only_) {
    return Status(Code::kFailedPrecondition, Reason::kStorageError, "the store is open read-only");
  }
  return write_synced("cannot write the credentials", [&](rocksdb::WriteBatch& batch) {
    return from_rocksdb(batch.Put(credentials_, slice(key), slice(value)),
                        "cannot batch the credentials");
  });
}

Result<Store::BackgroundWork> Store::background_work() const {
  std::shared_lock lock(db_mutex_);
  ORGLEDGER_RETURN_IF_ERROR(usable());
  BackgroundWork work;
  const bool read =
      db_->GetIntProperty(rocksdb::DB::Properties::kNumRunningFlushes, &work.running_flushes) &&
      db_->GetIntProperty(rocksdb::DB::Properties::kNumRunningCompactions,
                          &work.running_compactions) &&
      db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kEstimatePendingCompactionBytes,
                                    &work.pending_compaction_bytes);
  if (!read) {
    return Status(Code::kInternal, Reason::kStorageError,
                  "RocksDB did not report its background work");
  }
  return work;
}

Status Store::flush() const {
  std::shared_lock lock(db_mutex_);
  ORGLEDGER_RETURN_IF_ERROR(usable());
  return from_rocksdb(db_->Flush(rocksdb::FlushOptions(), handles_), "cannot flush the store");
}

Status Store::write_synced(std::string_view what,
                           const std::function<Status(rocksdb::WriteBatch&)>& fill, bool resume) {
  bool refused_before_log = false;
  Status written = write_once(what, fill, &refused_before_log);
  if (written.is_ok() || !resume || !refused_before_log) return written;
  // An error in the background (a flush or a compaction that failed, perhaps long ago, with no
  // write since) had stopped RocksDB's writes: nothing of this batch is stored, and no write of
  // the store's own failed. Resume, then write it once more.
  if (!recover_writes().is_ok()) return written;
  return write_once(what, fill, &refused_before_log);
}

Status Store::write_once(std::string_view what,
                         const std::function<Status(rocksdb::WriteBatch&)>& fill,
                         bool* refused_before_log) {
  *refused_before_log = false;
  without_perf_counts();
  // Under the shared lock: the family handles the batch names are replaced by a reopen.
  std::shared_lock lock(db_mutex_);
  if (write_failed_.load()) {
    return Status(Code::kUnavailable, Reason::kStorageError,
                  std::string(what) + ": writes are suspended since a write failed");
  }
  ORGLEDGER_RETURN_IF_ERROR(usable());
  // One batch per thread, cleared and filled again: its buffer keeps its capacity, so a group of
  // thousands of records is not copied into a string growing onto fresh pages every time (about
  // a tenth of the appending thread's time). An unusually large one is let go.
  constexpr size_t kKeptBatchBytes = 64 << 20;
  thread_local rocksdb::WriteBatch batch;
  if (batch.GetDataSize() > kKeptBatchBytes) batch = rocksdb::WriteBatch();
  batch.Clear();
  ORGLEDGER_RETURN_IF_ERROR(fill(batch));
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  const uint64_t errors_before = background_errors_->count();
  const rocksdb::Status written = db_->Write(write_options, &batch);
  if (!written.ok()) {
    write_failed_.store(true);
    // A failed log write or memtable insert is reported as an error of its own, during this
    // write. Without one, RocksDB was already stopped by an earlier error and refused the batch.
    *refused_before_log =
        errors_before > errors_when_resumed_ && background_errors_->count() == errors_before;
  }
  return from_rocksdb(written, what);
}

Status Store::append(const std::vector<NewRecord>& records, const LedgerWrites& ledger,
                     const CredentialWrites& credentials) {
  if (read_only_) {
    return Status(Code::kFailedPrecondition, Reason::kStorageError, "the store is open read-only");
  }
  if (records.empty()) return Status::ok();
  const NewRecord& last = records.back();
  // The single writer: a batch refused for an earlier background error is written once more
  // (and built again: the family handles change when the store reopens).
  constexpr bool kResume = true;
  // The ledger's memtable overwrites its aggregates in the order the batch puts them, and looks
  // ahead in it.
  KeysAhead ledger_ahead(ledger);
  ORGLEDGER_RETURN_IF_ERROR(write_synced(
      "cannot write events",
      [&](rocksdb::WriteBatch& batch) {
        uint64_t expected = head()->position + 1;
        for (const NewRecord& record : records) {
          if (record.position != expected++) {
            return Status(Code::kFailedPrecondition, Reason::kNone,
                          "record positions must continue the head contiguously");
          }
        }
        for (const NewRecord& record : records) {
          // The record's key, its position, is also its id's entry: built in place, without a
          // string allocated per event on the writer thread.
          static_assert(format::kEventIdEntrySize == format::kPositionKeySize);
          char position[format::kPositionKeySize];
          format::put_u64(record.position, position);
          const rocksdb::Slice key(position, sizeof position);
          ORGLEDGER_RETURN_IF_ERROR(
              from_rocksdb(batch.Put(events_, key, slice(record.bytes)), "cannot batch an event"));
          ORGLEDGER_RETURN_IF_ERROR(from_rocksdb(batch.Put(event_ids_, slice(record.event_id), key),
                                                 "cannot batch an id"));
        }
        for (const auto& [key, value] : ledger) {
          ORGLEDGER_RETURN_IF_ERROR(from_rocksdb(batch.Put(ledger_, slice(key), slice(value)),
                                                 "cannot batch the ledger"));
        }
        for (const auto& [key, value] : credentials) {
          ORGLEDGER_RETURN_IF_ERROR(from_rocksdb(batch.Put(credentials_, slice(key), slice(value)),
                                                 "cannot batch the credentials"));
        }
        std::string head_value = format::encode_u64(last.position);
        head_value.append(reinterpret_cast<const char*>(last.record_hash.data()), 32);
        head_value += format::encode_u64(static_cast<uint64_t>(last.recorded_at));
        return from_rocksdb(batch.Put(meta_, slice(format::kHeadKey), head_value),
                            "cannot batch the head");
      },
      kResume));
  std::lock_guard lock(head_mutex_);
  head_ = Head{last.position, last.record_hash};
  head_recorded_at_ = last.recorded_at;
  return Status::ok();
}

}  // namespace orgledger
