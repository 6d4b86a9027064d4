// Hash-chain verification on a real store, including bytes changed behind the engine's back.
#include "replay/verify.h"

#include <doctest/doctest.h>
#include <rocksdb/db.h>

#include "engine/engine.h"
#include "engine/store_format.h"
#include "replay/record.h"
#include "tests/support/events.h"
#include "tests/support/raw_db.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {

constexpr uint64_t kRecords = 6;

// A store of kRecords records, each appended in its own request.
void fill(const std::string& directory) {
  auto engine = Engine::open(directory);
  REQUIRE(engine.is_ok());
  for (uint64_t n = 1; n <= kRecords; ++n) {
    const std::string id = std::string(11, '1') + std::to_string(n);
    std::vector<AppendInput> inputs(1);
    inputs[0].event_id[0] = static_cast<uint8_t>(n);
    inputs[0].event = account_created(id, "user" + std::to_string(n) + "@example.com",
                                      "Account " + std::to_string(n), "", "2026-10-01T00:00:00Z");
    REQUIRE_OK((*engine)->append(std::move(inputs), local_operator()).status);
  }
}

// Opens RocksDB directly and changes the events family behind the store's back.
void tamper(const std::string& directory,
            const std::function<void(rocksdb::DB&, rocksdb::ColumnFamilyHandle*)>& change) {
  RawDb raw(directory);
  REQUIRE(raw.opened.ok());
  change(*raw.db, raw.handles[1]);
}

// Flips one byte inside the account name of the record at `position` (the FlatBuffer stays
// well-formed, so only the hash chain can tell).
void flip_name_byte(const std::string& directory, uint64_t position) {
  tamper(directory, [&](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* events) {
    const std::string key = store_format::position_key(position);
    std::string value;
    REQUIRE(db.Get(rocksdb::ReadOptions(), events, key, &value).ok());
    const size_t at = value.find("Account " + std::to_string(position));
    REQUIRE(at != std::string::npos);
    value[at] = 'a';
    REQUIRE(db.Put(rocksdb::WriteOptions(), events, key, value).ok());
  });
}

// Verifies in one thread, and checks that 2 to 4 threads (parts of one to three records, so a
// fault sits on or next to a boundary between parts) report exactly the same.
VerifyReport verify_store(const std::string& directory, uint64_t from = 1,
                          uint64_t to = std::numeric_limits<uint64_t>::max()) {
  auto store = Store::open(directory, StoreOptions::existing_read_only());
  REQUIRE(store.is_ok());
  const VerifyReport report = verify_chain(**store, from, to);
  for (unsigned threads = 2; threads <= 4; ++threads) {
    CAPTURE(threads);
    const VerifyReport parallel = verify_chain(**store, from, to, threads);
    CHECK(parallel.status.to_string() == report.status.to_string());
    CHECK(parallel.first_bad_position == report.first_bad_position);
    CHECK(parallel.from == report.from);
    CHECK(parallel.to == report.to);
    CHECK(parallel.records == report.records);
    CHECK(parallel.last_hash == report.last_hash);
  }
  return report;
}

}  // namespace

TEST_CASE("verify: an untouched chain verifies to the head") {
  TempDir dir;
  fill(dir.str());
  const VerifyReport report = verify_store(dir.str());
  CHECK_OK(report.status);
  CHECK(report.records == kRecords);
  CHECK(report.to == kRecords);
  CHECK(report.first_bad_position == 0);
}

TEST_CASE("verify: a sub-range verifies against the record before it") {
  TempDir dir;
  fill(dir.str());
  const VerifyReport report = verify_store(dir.str(), 3, 4);
  CHECK_OK(report.status);
  CHECK(report.records == 2);
}

TEST_CASE("corruption: one changed byte in a middle record is named by position") {
  TempDir dir;
  fill(dir.str());
  flip_name_byte(dir.str(), 3);
  const VerifyReport report = verify_store(dir.str());
  CHECK_FAILS_WITH(report.status, Code::kDataLoss, Reason::kHashChainBroken);
  CHECK(report.first_bad_position == 3);
  CHECK(report.status.message().find("position 3") != std::string::npos);
}

TEST_CASE("corruption: a changed first record is named") {
  TempDir dir;
  fill(dir.str());
  flip_name_byte(dir.str(), 1);
  CHECK(verify_store(dir.str()).first_bad_position == 1);
}

TEST_CASE("corruption: a changed head record is caught by the head hash") {
  TempDir dir;
  fill(dir.str());
  flip_name_byte(dir.str(), kRecords);
  const VerifyReport report = verify_store(dir.str());
  CHECK(report.status.code() == Code::kDataLoss);
  CHECK(report.first_bad_position == kRecords);
}

TEST_CASE("corruption: a changed record at the end of a sub-range is named by the next record") {
  TempDir dir;
  fill(dir.str());
  flip_name_byte(dir.str(), 4);
  CHECK(verify_store(dir.str(), 2, 4).first_bad_position == 4);
  CHECK(verify_store(dir.str(), 5, 6).first_bad_position == 4);
}

TEST_CASE("corruption: a changed prev_hash is blamed on the record that carries it") {
  TempDir dir;
  fill(dir.str());
  tamper(dir.str(), [](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* events) {
    std::string previous;
    REQUIRE(db.Get(rocksdb::ReadOptions(), events, store_format::position_key(2), &previous).ok());
    const Hash previous_hash = sha256(previous);
    const std::string key = store_format::position_key(3);
    std::string value;
    REQUIRE(db.Get(rocksdb::ReadOptions(), events, key, &value).ok());
    const size_t at =
        value.find(std::string(reinterpret_cast<const char*>(previous_hash.data()), 32));
    REQUIRE(at != std::string::npos);
    value[at] = static_cast<char>(value[at] ^ 0xff);
    REQUIRE(db.Put(rocksdb::WriteOptions(), events, key, value).ok());
  });
  CHECK(verify_store(dir.str()).first_bad_position == 3);
}

TEST_CASE("corruption: bytes that are not an EventRecord fail with CorruptRecord") {
  TempDir dir;
  fill(dir.str());
  tamper(dir.str(), [](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* events) {
    REQUIRE(db.Put(rocksdb::WriteOptions(), events, store_format::position_key(2), "garbage").ok());
  });
  const VerifyReport report = verify_store(dir.str());
  CHECK_FAILS_WITH(report.status, Code::kDataLoss, Reason::kCorruptRecord);
  CHECK(report.first_bad_position == 2);
}

TEST_CASE("corruption: a missing record is a gap named by position") {
  TempDir dir;
  fill(dir.str());
  tamper(dir.str(), [](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* events) {
    REQUIRE(db.Delete(rocksdb::WriteOptions(), events, store_format::position_key(4)).ok());
  });
  const VerifyReport report = verify_store(dir.str());
  CHECK(report.status.code() == Code::kDataLoss);
  CHECK(report.first_bad_position == 4);
}

TEST_CASE("corruption: a record whose event has a type and no body is refused, not read") {
  // Built by hand, as a tamperer could: the FlatBuffers verifier accepts it.
  flatbuffers::FlatBufferBuilder builder;
  fb::EventBuilder event(builder);
  event.add_occurred_at(1'791'590'400'000'000);
  event.add_body_type(fb::EventBody::UsageRecorded);
  const auto event_offset = event.Finish();
  const auto actor = builder.CreateString("operator:test");
  const EventIdBytes id_bytes{0x7a};
  const fb::EventId id(flatbuffers::span<const uint8_t, 16>(id_bytes.data(), 16));
  const Hash zeros{};
  const fb::Hash256 prev(flatbuffers::span<const uint8_t, 32>(zeros.data(), 32));
  fb::EventRecordBuilder record(builder);
  record.add_position(1);
  record.add_recorded_at(1'791'590'400'000'000);
  record.add_event_id(&id);
  record.add_actor(actor);
  record.add_prev_hash(&prev);
  record.add_event(event_offset);
  builder.Finish(record.Finish(), fb::EventRecordIdentifier());
  const std::string bytes(reinterpret_cast<const char*>(builder.GetBufferPointer()),
                          builder.GetSize());
  auto decoded = decode_record(StoredRecord{1, bytes});
  CHECK_FAILS_WITH(decoded.status(), Code::kDataLoss, Reason::kCorruptRecord);
}
