#include "replay/fold.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "replay/record.h"

namespace orgledger {

namespace {

// Records read and copied by the reader thread, each 8-byte aligned for FlatBuffers. Each is
// checked (decode_record) once: by the reader when the folding thread is behind, else by the
// folding thread when it reaches it.
struct Batch {
  std::string bytes;
  struct Entry {
    uint64_t position;
    size_t offset;
    size_t size;
  };
  std::vector<Entry> records;
  // The first `checked` records passed decode_record on the reader's thread; a record that did
  // not stops the reader's checks, and fails the fold when the folding thread reaches it.
  size_t checked = 0;

  StoredRecord stored(size_t i) const {
    return StoredRecord{records[i].position,
                        std::string_view(bytes).substr(records[i].offset, records[i].size)};
  }
};

constexpr size_t kBatchRecords = 1024;
constexpr size_t kBatchesInFlight = 4;

// The hand-over between the reader and the folding thread: a few batches in flight, then the
// reader waits. The folding thread can stop the reader early.
class BatchChannel {
 public:
  // Reader: false when the folder asked to stop.
  bool push(Batch batch) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return ready_.size() < kBatchesInFlight || stopped_; });
    if (stopped_) return false;
    ready_.push_back(std::move(batch));
    changed_.notify_all();
    return true;
  }
  void close(Status status) {
    std::lock_guard lock(mutex_);
    closed_ = true;
    status_ = std::move(status);
    changed_.notify_all();
  }
  // Reader: whether the folder has batches waiting (it is the slower of the two).
  bool backlog() const {
    std::lock_guard lock(mutex_);
    return ready_.size() >= kBatchesInFlight / 2;
  }
  // Folder: the next batch, or nullopt once the reader is done.
  std::optional<Batch> pop() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return !ready_.empty() || closed_; });
    if (ready_.empty()) return std::nullopt;
    Batch batch = std::move(ready_.front());
    ready_.pop_front();
    changed_.notify_all();
    return batch;
  }
  void stop() {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    changed_.notify_all();
  }
  // After pop() returned nullopt: how the reader ended.
  Status status() const {
    std::lock_guard lock(mutex_);
    return status_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> ready_;
  bool closed_ = false;
  bool stopped_ = false;
  Status status_;
};

// Checks the batch's records on the reader's thread when the folding thread has batches
// waiting: which thread is the slower depends on the machine (on some, applying waits on memory
// for most records, on others reading is the longer part), and the checks go to the other.
void check_while_behind(Batch& batch, const BatchChannel& channel, RecordChecks checks) {
  if (checks == RecordChecks::kOnFolder) return;
  if (checks == RecordChecks::kBalanced && !channel.backlog()) return;
  while (batch.checked < batch.records.size() &&
         decode_record(batch.stored(batch.checked)).is_ok()) {
    ++batch.checked;
  }
}

// Reads `range` from `source` into `channel`: each record must be the next position, else the
// channel closes with DataLoss.
void read_records(const RecordSource& source, const FoldRange& range, BatchChannel& channel,
                  RecordChecks checks) {
  uint64_t expected = range.from;
  Status failure;
  Batch batch;
  bool open = true;
  Status scanned = source.scan_to_copy(range.from, range.to, [&](const StoredRecord& stored) {
    if (stored.position != expected) {
      failure = Status(Code::kDataLoss, Reason::kCorruptRecord,
                       "record at position " + std::to_string(expected) + " is missing");
      return ScanOutcome::kStop;
    }
    batch.bytes.resize((batch.bytes.size() + 7) & ~size_t{7});
    batch.records.push_back({stored.position, batch.bytes.size(), stored.bytes.size()});
    batch.bytes.append(stored.bytes);
    ++expected;
    if (batch.records.size() == kBatchRecords) {
      check_while_behind(batch, channel, checks);
      open = channel.push(std::move(batch));
      batch = Batch{};
      if (!open) return ScanOutcome::kStop;
    }
    return ScanOutcome::kContinue;
  });
  if (open && !batch.records.empty()) {
    check_while_behind(batch, channel, checks);
    channel.push(std::move(batch));
  }
  channel.close(!scanned.is_ok() ? std::move(scanned) : std::move(failure));
}

}  // namespace

Result<FoldSummary> fold(const RecordSource& source, const FoldRange& range, Registry& state,
                         RecordChecks checks) {
  // One thread reads the records while this one applies them; the checks (the FlatBuffers
  // verifier's) go to whichever thread has time for them (check_while_behind): the reading is
  // RocksDB's iteration and decompression, the applying is lookups in the state.
  BatchChannel channel;
  std::thread reader([&] { read_records(source, range, channel, checks); });
  struct Joiner {
    BatchChannel& channel;
    std::thread& reader;
    ~Joiner() {
      channel.stop();
      reader.join();
    }
  } joiner{channel, reader};

  FoldSummary summary;
  while (std::optional<Batch> batch = channel.pop()) {
    for (size_t i = 0; i < batch->records.size(); ++i) {
      const Batch::Entry& entry = batch->records[i];
      const fb::EventRecord* record = nullptr;
      if (i < batch->checked) {
        record = fb::GetEventRecord(batch->bytes.data() + entry.offset);
      } else {
        auto decoded = decode_record(batch->stored(i));
        if (!decoded.is_ok()) return decoded.status();
        record = *decoded;
      }
      if (record->recorded_at() > range.until) return summary;  // later records do not count
      const EventContext context{entry.position, record->recorded_at(),
                                 record->actor() ? record->actor()->string_view() : ""};
      apply(state, *record->event(), context);
      if (summary.records == 0) summary.first_position = entry.position;
      summary.last_position = entry.position;
      ++summary.records;
    }
  }
  ORGLEDGER_RETURN_IF_ERROR(channel.status());
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
