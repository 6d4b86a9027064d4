// Disk faults (docs/reliability.md): with a file system that fails writes or syncs on demand,
// an append answers Unavailable or ResourceExhausted, stores nothing, leaves the state and the
// reads as they were, and appends work again once the fault clears, without reopening.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "engine/engine.h"
#include "replay/fold.h"
#include "replay/verify.h"
#include "tests/support/events.h"
#include "tests/support/fault_fs.h"
#include "tests/support/secrets.h"
#include "tests/support/temp_dir.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {

AppendInput usage(uint64_t id, std::string_view quantity) {
  AppendInput input;
  input.event_id = EventIdBytes{0xfa};
  for (int i = 0; i < 8; ++i) input.event_id[15 - i] = static_cast<uint8_t>(id >> (8 * i));
  input.event =
      usage_recorded("222222222222", "DataTransfer-Out-GB", quantity, "2026-10-12T00:00:00Z");
  return input;
}

std::unique_ptr<Engine> open_engine(const std::string& directory, const FaultyDisk* disk) {
  EngineOptions options;
  if (disk) options.store.env = disk->env;
  auto engine = Engine::open(directory, std::move(options));
  REQUIRE(engine.is_ok());
  return std::move(*engine);
}

struct FaultCase {
  DiskFault fault;
  Code expected;
  const char* name;
};

}  // namespace

TEST_CASE("disk faults: a failed write stores nothing, reads go on, appends resume in-process") {
  TempDir dir;
  FaultyDisk disk = make_faulty_disk();
  auto engine = open_engine(dir.str(), &disk);
  REQUIRE(engine->append(inputs_of(worked_example_events()), kOperator).status.is_ok());

  uint64_t next_id = 1;
  std::vector<uint64_t> stored_ids, refused_ids;
  for (const FaultCase& fault_case :
       {FaultCase{DiskFault::kWriteError, Code::kUnavailable, "write error"},
        FaultCase{DiskFault::kSyncError, Code::kUnavailable, "sync error"},
        FaultCase{DiskFault::kNoSpace, Code::kResourceExhausted, "disk full"}}) {
    INFO("fault: ", std::string(fault_case.name));
    const Head before = engine->store().head().value();
    const Hash state_before = digest(engine->registry());
    const uint64_t failures_before = disk.fs->failures();

    disk.fs->set_fault(fault_case.fault);
    const uint64_t first = next_id;
    next_id += 2;
    const std::vector<AppendInput> request = {usage(first, "5"), usage(first + 1, "6")};
    AppendOutcome outcome = engine->append(request, kOperator);
    CHECK(outcome.status.code() == fault_case.expected);
    CHECK(disk.fs->failures() > failures_before);
    // Nothing partial: the head, the state and the event ids are as before.
    CHECK(engine->store().head().value().position == before.position);
    CHECK(engine->store().head().value().hash == before.hash);
    CHECK(digest(engine->registry()) == state_before);
    CHECK_FALSE(engine->store().find_event_id(request[0].event_id).value().has_value());
    // While the fault lasts, appends keep failing, and reads are served.
    refused_ids.push_back(next_id);
    const AppendOutcome again = engine->append({usage(next_id++, "1")}, kOperator);
    CHECK((again.status.code() == Code::kUnavailable ||
           again.status.code() == Code::kResourceExhausted));
    CHECK(engine->store().read(before.position).is_ok());
    auto replayed = replay_to_position(engine->store(), before.position);
    REQUIRE(replayed.is_ok());
    CHECK(digest(*replayed) == state_before);

    // The fault clears: the client retries the failed request with the same ids, in the same
    // process. Either nothing of it was stored and it is stored now, or the reopened log brought
    // it back whole and the retry is answered from it; the positions follow the head either way.
    disk.fs->set_fault(DiskFault::kNone);
    AppendOutcome resumed = engine->append(request, kOperator);
    INFO(resumed.status.to_string());
    REQUIRE(resumed.status.is_ok());
    CHECK(resumed.positions == std::vector<uint64_t>{before.position + 1, before.position + 2});
    CHECK(engine->store().head().value().position == before.position + 2);
    MESSAGE(std::string(fault_case.name), ": the retry stored ", resumed.stored, " of 2 events");
    stored_ids.push_back(first);
    stored_ids.push_back(first + 1);
    // And a new append after it.
    REQUIRE(engine->append({usage(next_id, "2")}, kOperator).status.is_ok());
    stored_ids.push_back(next_id++);
  }

  // Reopened without faults, the store holds exactly what was acknowledged: the chain holds,
  // the state equals a replay, and no refused event came back from a log file.
  const Head head = engine->store().head().value();
  const Hash state = digest(engine->registry());
  engine.reset();
  auto reopened = open_engine(dir.str(), nullptr);
  CHECK(reopened->store().head().value().position == head.position);
  CHECK(reopened->store().head().value().hash == head.hash);
  CHECK(digest(reopened->registry()) == state);
  CHECK(verify_chain(reopened->store(), 1, head.position).status.is_ok());
  auto replayed = replay_to_position(reopened->store(), head.position);
  REQUIRE(replayed.is_ok());
  CHECK(digest(*replayed) == state);
  for (uint64_t id : stored_ids) {
    CAPTURE(id);
    CHECK(reopened->store().find_event_id(usage(id, "1").event_id).value().has_value());
  }
  for (uint64_t id : refused_ids) {
    CAPTURE(id);
    CHECK_FALSE(reopened->store().find_event_id(usage(id, "1").event_id).value().has_value());
  }
  CHECK(head.position == 8 + stored_ids.size());
}

TEST_CASE("disk faults: readers on other threads go on while the store reopens after a fault") {
  TempDir dir;
  FaultyDisk disk = make_faulty_disk();
  auto engine = open_engine(dir.str(), &disk);
  REQUIRE(engine->append(inputs_of(worked_example_events()), kOperator).status.is_ok());
  const Store& store = engine->store();

  std::atomic<bool> done{false};
  std::atomic<uint64_t> reads{0}, read_errors{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!done.load()) {
        const uint64_t head = store.head().value().position;
        const bool ok = store.read(1).is_ok() &&
                        store.find_event_id(usage(1, "1").event_id).is_ok() &&
                        verify_chain(store, 1, head).status.is_ok();
        ++(ok ? reads : read_errors);
      }
    });
  }
  uint64_t next_id = 1;
  for (int round = 0; round < 10; ++round) {
    disk.fs->set_fault(round % 2 == 0 ? DiskFault::kWriteError : DiskFault::kSyncError);
    CHECK_FALSE(engine->append({usage(next_id++, "1")}, kOperator).status.is_ok());
    CHECK_FALSE(engine->append({usage(next_id++, "1")}, kOperator).status.is_ok());
    disk.fs->set_fault(DiskFault::kNone);
    CHECK(engine->append({usage(next_id++, "1")}, kOperator).status.is_ok());
  }
  done.store(true);
  for (std::thread& reader : readers) reader.join();
  CHECK(reads.load() > 0);
  CHECK(read_errors.load() == 0);
  CHECK(verify_chain(store, 1, store.head().value().position).status.is_ok());
}

TEST_CASE(
    "disk faults: a flush that failed in the background does not refuse the first append after "
    "the disk heals") {
  TempDir dir;
  FaultyDisk disk = make_faulty_disk();
  auto engine = open_engine(dir.str(), &disk);
  REQUIRE(engine->append(inputs_of(worked_example_events()), kOperator).status.is_ok());
  const Head before = engine->store().head().value();

  // Table files fail while the log does not: the flush fails in the background, which stops
  // RocksDB's writes; no append was running.
  disk.fs->set_fault(DiskFault::kTableWriteError);
  CHECK_FALSE(engine->store().flush().is_ok());
  CHECK(disk.fs->failures() > 0);
  disk.fs->set_fault(DiskFault::kNone);

  // The first append after the disk healed is stored: RocksDB refused its batch before it
  // reached the log, so the store resumes and writes it.
  const AppendOutcome first = engine->append({usage(1, "3")}, kOperator);
  INFO(first.status.to_string());
  REQUIRE(first.status.is_ok());
  CHECK(first.positions == std::vector<uint64_t>{before.position + 1});
  CHECK(engine->store().head().value().position == before.position + 1);
  CHECK(engine->store().flush().is_ok());

  // Every acknowledged event is there after a reopen, once, and the state equals a replay.
  const Hash state = digest(engine->registry());
  engine.reset();
  auto reopened = open_engine(dir.str(), nullptr);
  CHECK(reopened->store().head().value().position == before.position + 1);
  CHECK(digest(reopened->registry()) == state);
  auto replayed = replay_to_position(reopened->store(), before.position + 1);
  REQUIRE(replayed.is_ok());
  CHECK(digest(*replayed) == state);
}

TEST_CASE(
    "disk faults: a checkpoint after a flush failed in the background resumes the store and is "
    "written") {
  TempDir dir;
  FaultyDisk disk = make_faulty_disk();
  auto engine = open_engine(dir.str(), &disk);
  REQUIRE(engine->append(inputs_of(worked_example_events()), kOperator).status.is_ok());
  const Head head = engine->store().head().value();
  const Hash state = digest(engine->registry());

  // A flush fails in the background and stops RocksDB's writes; no append comes after it (a
  // server stopping now writes its final checkpoint).
  disk.fs->set_fault(DiskFault::kTableWriteError);
  CHECK_FALSE(engine->store().flush().is_ok());
  REQUIRE(engine->store().writes_stopped());
  // While the disk still fails, the checkpoint is refused and nothing changes.
  CHECK_FALSE(engine->checkpoint().is_ok());
  disk.fs->set_fault(DiskFault::kNone);

  const Status written = engine->checkpoint();
  INFO(written.to_string());
  REQUIRE(written.is_ok());
  CHECK_FALSE(engine->store().writes_stopped());
  CHECK(digest(engine->registry()) == state);

  // The next start-up begins at that checkpoint and holds the same state.
  engine.reset();
  auto reopened = open_engine(dir.str(), nullptr);
  CHECK(reopened->loaded_checkpoint() == head.position);
  CHECK(reopened->store().head().value().position == head.position);
  CHECK(digest(reopened->registry()) == state);
}
