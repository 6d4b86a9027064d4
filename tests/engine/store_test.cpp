// The embedded store and the engine's append path, on real RocksDB in a temp directory.
#include <doctest/doctest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>

#include "engine/engine.h"
#include "engine/password_hash.h"
#include "engine/store_format.h"
#include "projections/billing.h"
#include "projections/credentials.h"
#include "replay/fold.h"
#include "replay/record.h"
#include "replay/verify.h"
#include "tests/support/events.h"
#include "tests/support/raw_db.h"
#include "tests/support/secrets.h"
#include "tests/support/seed.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {

EventIdBytes id_of(uint8_t n) {
  EventIdBytes id{};
  id[0] = 0xee;
  id[15] = n;
  return id;
}

// A clock that the test moves by hand.
struct ManualClock {
  Micros now = at("2026-11-01T00:00:00Z");
};

// An input with id `id`; PasswordChanged and MfaEnabled get the test secrets, the TOTP code for
// the engine's clock at `now`.
AppendInput input(uint8_t id, fb::EventT event, Micros now = ManualClock().now) {
  AppendInput made;
  made.event_id = id_of(id);
  made.event = std::move(event);
  attach_test_secret(made, now);
  return made;
}

// One request of `inputs` by the operator, as the sequencer hands a group to prepare_group.
std::vector<AppendRequest> one_request(std::vector<AppendInput> inputs,
                                       std::optional<uint64_t> expected_head = {}) {
  std::vector<AppendRequest> requests(1);
  requests[0].inputs = std::move(inputs);
  requests[0].principal = kOperator;
  requests[0].expected_head = expected_head;
  return requests;
}

std::vector<AppendInput> one_input(AppendInput input) {
  std::vector<AppendInput> inputs;
  inputs.push_back(std::move(input));
  return inputs;
}

EngineOptions options_with(ManualClock& clock) {
  EngineOptions options;
  options.clock = [&clock] { return clock.now; };
  return options;
}

// A management account (secured: password and MFA), its organization and a member.
std::vector<AppendInput> five_events() {
  std::vector<AppendInput> inputs;
  inputs.push_back(input(
      1, account_created("111111111111", "billing@example.com", "E", "", "2026-10-01T00:00:00Z")));
  inputs.push_back(input(2, password_changed("111111111111", "2026-10-01T00:00:10Z")));
  inputs.push_back(input(3, mfa_enabled("111111111111", "phone", "2026-10-01T00:00:20Z")));
  inputs.push_back(
      input(4, organization_created("o-exampleorg1", "111111111111", "2026-10-01T00:01:00Z")));
  inputs.push_back(input(5, account_created("222222222222", "m@example.com", "M", "o-exampleorg1",
                                            "2026-10-02T00:00:00Z")));
  return inputs;
}

// Appends five_events() to the store in `dir` through an engine, closed again on return.
void store_five_events(const TempDir& dir, ManualClock& clock) {
  auto engine = Engine::open(dir.str(), options_with(clock));
  REQUIRE(engine.is_ok());
  REQUIRE_OK((*engine)->append(five_events(), kOperator).status);
}

// The key of id_of(n) in the event_ids family.
std::string id_key(uint8_t n) {
  const EventIdBytes id = id_of(n);
  return std::string(reinterpret_cast<const char*>(id.data()), id.size());
}

// RocksDB opened directly on a closed store, for raw-byte checks and corruption. Families by
// index: 1 events, 2 event_ids, 3 ledger, 4 meta, 5 checkpoints, 6 credentials.
struct RawStore : RawDb {
  explicit RawStore(const std::string& directory) : RawDb(directory) { REQUIRE(opened.ok()); }
  std::string get(size_t family, const std::string& key) {
    std::string value;
    REQUIRE(db->Get(rocksdb::ReadOptions(), handles[family], key, &value).ok());
    return value;
  }
  void put(size_t family, const std::string& key, const std::string& value) {
    REQUIRE(db->Put(rocksdb::WriteOptions(), handles[family], key, value).ok());
  }
};

}  // namespace

TEST_CASE("store: appended events survive reopening, and positions stay gapless across it") {
  TempDir dir;
  ManualClock clock;
  {
    auto engine = Engine::open(dir.str(), options_with(clock));
    REQUIRE(engine.is_ok());
    AppendOutcome outcome = (*engine)->append(five_events(), kOperator);
    REQUIRE_OK(outcome.status);
    CHECK(outcome.positions == std::vector<uint64_t>{1, 2, 3, 4, 5});
    CHECK(outcome.head.position == 5);
  }
  auto engine = Engine::open(dir.str(), options_with(clock));
  REQUIRE(engine.is_ok());
  CHECK((*engine)->store().head()->position == 5);
  CHECK((*engine)->registry().find_organization("o-exampleorg1") != nullptr);
  std::vector<AppendInput> more;
  more.push_back(
      input(9, account_created("333333333333", "x@outside.io", "X", "", "2026-10-03T00:00:00Z")));
  AppendOutcome outcome = (*engine)->append(std::move(more), kOperator);
  REQUIRE_OK(outcome.status);
  CHECK(outcome.positions == std::vector<uint64_t>{6});
}

TEST_CASE("store: an identical retry answers the original positions and stores nothing") {
  TempDir dir;
  ManualClock clock;
  auto engine = Engine::open(dir.str(), options_with(clock));
  REQUIRE(engine.is_ok());
  REQUIRE_OK((*engine)->append(five_events(), kOperator).status);
  const Head before = (*engine)->store().head().value();
  AppendOutcome retry = (*engine)->append(five_events(), kOperator);
  REQUIRE_OK(retry.status);
  CHECK(retry.positions == std::vector<uint64_t>{1, 2, 3, 4, 5});
  CHECK(retry.stored == 0);
  CHECK((*engine)->store().head()->position == before.position);
  CHECK((*engine)->store().head()->hash == before.hash);
}

TEST_CASE("store: a request of stored, new and repeated ids answers each one, in its order") {
  TempDir dir;
  ManualClock clock;
  auto engine = Engine::open(dir.str(), options_with(clock));
  REQUIRE(engine.is_ok());
  // five_events()[i] has id i + 1; a fresh copy for each pick.
  auto pick = [](std::initializer_list<size_t> indexes) {
    std::vector<AppendInput> inputs;
    for (size_t index : indexes) inputs.push_back(std::move(five_events()[index]));
    return inputs;
  };
  REQUIRE_OK((*engine)->append(pick({0, 1}), kOperator).status);
  // Ids 1 and 2 are in the store, 3 to 5 are new, and 4 comes twice.
  AppendOutcome outcome = (*engine)->append(pick({2, 0, 3, 3, 1, 4}), kOperator);
  REQUIRE_OK(outcome.status);
  CHECK(outcome.positions == std::vector<uint64_t>{3, 1, 4, 4, 2, 5});
  CHECK(outcome.stored == 3);
  CHECK((*engine)->store().head()->position == 5);
  // The same again: everything is answered from the store.
  outcome = (*engine)->append(pick({2, 0, 3, 3, 1, 4}), kOperator);
  REQUIRE_OK(outcome.status);
  CHECK(outcome.positions == std::vector<uint64_t>{3, 1, 4, 4, 2, 5});
  CHECK(outcome.stored == 0);
  CHECK((*engine)->store().head()->position == 5);
}

TEST_CASE("store: the same event id with other content fails with DuplicateEventId") {
  TempDir dir;
  ManualClock clock;
  auto engine = Engine::open(dir.str(), options_with(clock));
  REQUIRE(engine.is_ok());
  REQUIRE_OK((*engine)->append(five_events(), kOperator).status);
  std::vector<AppendInput> reuse;
  reuse.push_back(
      input(1, account_created("333333333333", "x@outside.io", "X", "", "2026-10-03T00:00:00Z")));
  AppendOutcome outcome = (*engine)->append(std::move(reuse), kOperator);
  CHECK_FAILS_WITH(outcome.status, Code::kAlreadyExists, Reason::kDuplicateEventId);
  CHECK(outcome.failed_index == 0);
  CHECK((*engine)->store().head()->position == 5);
  CHECK((*engine)->registry().find_account("333333333333") == nullptr);
}

TEST_CASE("store: one id twice within a request is stored once when identical, refused otherwise") {
  TempDir dir;
  ManualClock clock;
  auto engine = Engine::open(dir.str(), options_with(clock));
  REQUIRE(engine.is_ok());
  std::vector<AppendInput> twice;
  twice.push_back(
      input(7, account_created("333333333333", "x@outside.io", "X", "", "2026-10-03T00:00:00Z")));
  twice.push_back(
      input(7, account_created("333333333333", "x@outside.io", "X", "", "2026-10-03T00:00:00Z")));
  AppendOutcome outcome = (*engine)->append(std::move(twice), kOperator);
  REQUIRE_OK(outcome.status);
  CHECK(outcome.positions == std::vector<uint64_t>{1, 1});
  CHECK(outcome.stored == 1);

  std::vector<AppendInput> conflicting;
  conflicting.push_back(
      input(8, account_created("444444444444", "y@outside.io", "Y", "", "2026-10-03T00:00:00Z")));
  conflicting.push_back(
      input(8, account_created("555555555555", "z@outside.io", "Z", "", "2026-10-03T00:00:00Z")));
  outcome = (*engine)->append(std::move(conflicting), kOperator);
  CHECK_FAILS_WITH(outcome.status, Code::kAlreadyExists, Reason::kDuplicateEventId);
  CHECK(outcome.failed_index == 1);
  CHECK((*engine)->store().head()->position == 1);
}

TEST_CASE("store: a request with one invalid event stores nothing, not even the valid ones") {
  TempDir dir;
  ManualClock clock;
  auto engine = Engine::open(dir.str(), options_with(clock));
  REQUIRE(engine.is_ok());
  std::vector<AppendInput> inputs = five_events();
  inputs.push_back(input(9, account_closed("111111111111", "2026-10-05T00:00:00Z")));  // management
  AppendOutcome outcome = (*engine)->append(std::move(inputs), kOperator);
  CHECK_FAILS_WITH_DETAIL(outcome.status, Code::kFailedPrecondition, Reason::kConstraintViolation,
                          "CANNOT_CLOSE_MANAGEMENT_ACCOUNT");
  CHECK(outcome.failed_index == 5);
  CHECK((*engine)->store().head()->position == 0);
  CHECK((*engine)->registry().accounts.empty());
  // The ids of the refused request were not consumed: the valid events can still be appended.
  AppendOutcome retry = (*engine)->append(five_events(), kOperator);
  REQUIRE_OK(retry.status);
  CHECK(retry.stored == 5);
  // Nor was the id of the refused event: it takes other content now.
  std::vector<AppendInput> reused;
  reused.push_back(
      input(9, account_created("666666666666", "w@outside.io", "W", "", "2026-10-05T00:00:00Z")));
  AppendOutcome again = (*engine)->append(std::move(reused), kOperator);
  REQUIRE_OK(again.status);
  CHECK(again.stored == 1);
  CHECK(again.positions == std::vector<uint64_t>{6});
}

TEST_CASE("store: recorded_at never decreases, even when the clock steps back") {
  TempDir dir;
  ManualClock clock;
  auto engine = Engine::open(dir.str(), options_with(clock));
  REQUIRE(engine.is_ok());
  std::vector<AppendInput> first;
  first.push_back(
      input(1, account_created("111111111111", "b@example.com", "E", "", "2026-10-01T00:00:00Z")));
  REQUIRE_OK((*engine)->append(std::move(first), kOperator).status);
  clock.now -= 3'600 * kMicrosPerSecond;
  std::vector<AppendInput> second;
  second.push_back(
      input(2, account_created("222222222222", "c@example.com", "F", "", "2026-10-01T00:00:00Z")));
  REQUIRE_OK((*engine)->append(std::move(second), kOperator).status);
  auto one = (*engine)->store().read(1);
  auto two = (*engine)->store().read(2);
  REQUIRE(one.is_ok());
  REQUIRE(two.is_ok());
  CHECK(fb::GetEventRecord(two->data())->recorded_at() ==
        fb::GetEventRecord(one->data())->recorded_at());
}

TEST_CASE(
    "format: keys are 8-byte big-endian positions and prev_hash is SHA-256 of the stored "
    "bytes before") {
  TempDir dir;
  ManualClock clock;
  store_five_events(dir, clock);
  RawStore raw(dir.str());
  const std::string key_one("\x00\x00\x00\x00\x00\x00\x00\x01", 8);
  const std::string key_two("\x00\x00\x00\x00\x00\x00\x00\x02", 8);
  CHECK(store_format::position_key(1) == key_one);
  CHECK(store_format::position_key(258) == std::string("\x00\x00\x00\x00\x00\x00\x01\x02", 8));
  const std::string first = raw.get(1, key_one);
  const std::string second = raw.get(1, key_two);
  // The FlatBuffers file identifier sits at bytes 4..8 of every stored value.
  CHECK(first.substr(4, 4) == "OLER");

  const fb::EventRecord* record_one = fb::GetEventRecord(first.data());
  const fb::EventRecord* record_two = fb::GetEventRecord(second.data());
  CHECK(record_one->position() == 1);
  CHECK(hash_of(*record_one->prev_hash()) == Hash{});
  CHECK(hash_of(*record_two->prev_hash()) == sha256(first));
  CHECK(record_one->recorded_at() == clock.now);
  CHECK(record_one->event()->body_type() == fb::EventBody::AccountCreated);
  CHECK(std::string(reinterpret_cast<const char*>(record_one->event_id()->bytes()->data()), 16) ==
        id_key(1));

  // meta: the format version and the head (position, hash of the last value, recorded_at).
  CHECK(raw.get(4, "format_version") == "3");
  const std::string head = raw.get(4, "head");
  REQUIRE(head.size() == store_format::kHeadValueSize);
  CHECK(head.substr(0, 8) == std::string("\x00\x00\x00\x00\x00\x00\x00\x05", 8));
  const Hash last = sha256(raw.get(1, std::string("\x00\x00\x00\x00\x00\x00\x00\x05", 8)));

  // credentials: the argon2id hash of the password and the TOTP key, nowhere else.
  const std::string password_hash = raw.get(6, "password/111111111111");
  CHECK(password_hash.starts_with("$argon2id$"));
  CHECK(verify_password(password_hash, kTestPassword));
  const std::string totp = raw.get(6, "totp/111111111111/phone");
  const auto entry_of_totp = store_format::decode_totp_entry(totp);
  REQUIRE(entry_of_totp.has_value());
  const std::vector<uint8_t> key = decode_base32(kTestTotpSeed).value();
  CHECK(entry_of_totp->second == std::string(key.begin(), key.end()));
  for (uint64_t position = 1; position <= 5; ++position) {
    const std::string stored = raw.get(1, store_format::position_key(position));
    CHECK(stored.find(kTestPassword) == std::string::npos);
    CHECK(stored.find(std::string(key.begin(), key.end())) == std::string::npos);
    CHECK(stored.find(kTestTotpSeed) == std::string::npos);
  }
  CHECK(head.substr(8, 32) == std::string(reinterpret_cast<const char*>(last.data()), 32));

  // event_ids: id -> position, nothing else.
  const std::string entry = raw.get(2, id_key(2));
  CHECK(entry == key_two);
}

TEST_CASE("store: a store of format version 2 is read as it is, and marked 3 before a write") {
  TempDir dir;
  ManualClock clock;
  const std::string raw_id = id_key(4);
  store_five_events(dir, clock);
  // As version 2 wrote it: an id's entry is its position followed by its content hash. The
  // hash here is the entry's own, not the record's: a version 2 entry is taken at its word.
  Hash written{};
  written.fill(0x5a);
  {
    RawStore raw(dir.str());
    raw.put(4, "format_version", "2");
    raw.put(2, raw_id,
            store_format::encode_u64(4) +
                std::string(reinterpret_cast<const char*>(written.data()), written.size()));
  }
  {
    auto read_only = Store::open(dir.str(), StoreOptions::existing_read_only());
    REQUIRE(read_only.is_ok());
    auto found = (*read_only)->find_event_id(id_of(4));
    REQUIRE(found.is_ok());
    REQUIRE(found->has_value());
    CHECK((*found)->position == 4);
    CHECK((*found)->content_hash == written);
    // An entry of version 3 in the same store is read too, its hash taken from the record.
    found = (*read_only)->find_event_id(id_of(5));
    REQUIRE(found.is_ok());
    REQUIRE(found->has_value());
    CHECK((*found)->position == 5);
    CHECK((*found)->content_hash == event_content_hash(five_events()[4].event));
  }
  { CHECK(RawStore(dir.str()).get(4, "format_version") == "2"); }
  {
    auto engine = Engine::open(dir.str(), options_with(clock));
    REQUIRE(engine.is_ok());
    std::vector<AppendInput> more;
    more.push_back(
        input(9, account_created("333333333333", "x@outside.io", "X", "", "2026-10-03T00:00:00Z")));
    REQUIRE_OK((*engine)->append(std::move(more), kOperator).status);
  }
  RawStore raw(dir.str());
  CHECK(raw.get(4, "format_version") == "3");
  CHECK(raw.get(2, id_key(9)) == store_format::encode_u64(6));
  CHECK(raw.get(2, raw_id).size() == store_format::kEventIdEntrySizeV2);
}

TEST_CASE(
    "store: an id whose entry is corrupt, or names no record or another's, fails with DataLoss") {
  TempDir dir;
  ManualClock clock;
  store_five_events(dir, clock);
  {
    RawStore raw(dir.str());
    raw.put(2, id_key(1), "short");
    raw.put(2, id_key(2), store_format::encode_u64(77));
    raw.put(2, id_key(4), store_format::encode_u64(5));
  }
  auto store = Store::open(dir.str(), StoreOptions::existing_read_only());
  REQUIRE(store.is_ok());
  CHECK_FAILS_WITH((*store)->find_event_id(id_of(1)).status(), Code::kDataLoss,
                   Reason::kCorruptRecord);
  const Status past_head = (*store)->find_event_id(id_of(2)).status();
  CHECK_FAILS_WITH(past_head, Code::kDataLoss, Reason::kCorruptRecord);
  CHECK(past_head.message().find("position 77, which holds no record") != std::string::npos);
  // Id 4's entry names the record of id 5: not a retry of that event, but a wrong entry.
  const Status elsewhere = (*store)->find_event_id(id_of(4)).status();
  CHECK_FAILS_WITH(elsewhere, Code::kDataLoss, Reason::kCorruptRecord);
  CHECK(elsewhere.message().find("another event id") != std::string::npos);
  // The others are answered as before.
  auto found = (*store)->find_event_id(id_of(3));
  REQUIRE(found.is_ok());
  REQUIRE(found->has_value());
  CHECK((*found)->position == 3);
}

TEST_CASE("store: a store of an unknown format version is refused with UnsupportedFormatVersion") {
  TempDir dir;
  { REQUIRE(Store::open(dir.str()).is_ok()); }
  {
    RawStore raw(dir.str());
    raw.put(4, "format_version", "99");
  }
  auto reopened = Store::open(dir.str());
  REQUIRE_FALSE(reopened.is_ok());
  CHECK_FAILS_WITH(reopened.status(), Code::kFailedPrecondition, Reason::kUnsupportedFormatVersion);
  auto read_only = Store::open(dir.str(), StoreOptions::existing_read_only());
  REQUIRE_FALSE(read_only.is_ok());
  CHECK(read_only.status().reason() == Reason::kUnsupportedFormatVersion);
}

TEST_CASE("store: read-only opening of a missing store fails with NotFound and creates nothing") {
  TempDir dir;
  const std::string missing = dir.str() + "/absent";
  auto store = Store::open(missing, StoreOptions::existing_read_only());
  REQUIRE_FALSE(store.is_ok());
  CHECK(store.status().code() == Code::kNotFound);
  CHECK_FALSE(std::filesystem::exists(missing));
}

TEST_CASE("store: a read-only store refuses to append") {
  TempDir dir;
  ManualClock clock;
  {
    auto engine = Engine::open(dir.str(), options_with(clock));
    REQUIRE(engine.is_ok());
  }
  EngineOptions options = options_with(clock);
  options.store.read_only = true;
  auto engine = Engine::open(dir.str(), options);
  REQUIRE(engine.is_ok());
  AppendOutcome outcome = (*engine)->append(five_events(), kOperator);
  CHECK(outcome.status.code() == Code::kFailedPrecondition);
  CHECK((*engine)->store().head()->position == 0);
}

TEST_CASE("store: a read-only reader sees what a writer holding the store has appended") {
  TempDir dir;
  ManualClock clock;
  auto writer = Engine::open(dir.str(), options_with(clock));
  REQUIRE(writer.is_ok());
  REQUIRE_OK((*writer)->append(five_events(), kOperator).status);
  auto reader = Store::open(dir.str(), StoreOptions::existing_read_only());
  REQUIRE(reader.is_ok());
  CHECK((*reader)->head()->position == 5);
}

TEST_CASE("ledger: the ledger family is written with the events and equals a replay of the log") {
  TempDir dir;
  ManualClock clock;
  clock.now = at("2026-11-26T00:00:00Z");
  auto request = [&clock](uint8_t first_id, std::vector<fb::EventT> events) {
    std::vector<AppendInput> inputs;
    for (auto& event : events) inputs.push_back(input(first_id++, std::move(event), clock.now));
    return inputs;
  };
  {
    auto engine = Engine::open(dir.str(), options_with(clock));
    REQUIRE(engine.is_ok());
    std::vector<fb::EventT> setup = worked_example_events();
    REQUIRE_OK((*engine)->append(request(1, std::move(setup)), kOperator).status);
    std::vector<fb::EventT> close;
    close.push_back(billing_period_closed("2026-10", "2026-11-01T00:00:00Z"));
    close.push_back(
        usage_recorded("222222222222", "DataTransfer-Out-GB", "100", "2026-10-20T00:00:00Z"));
    REQUIRE_OK((*engine)->append(request(20, std::move(close)), kOperator).status);
    // A refused request leaves the ledger family untouched.
    std::vector<fb::EventT> refused;
    refused.push_back(
        usage_recorded("222222222222", "DataTransfer-Out-GB", "5", "2026-11-02T00:00:00Z"));
    refused.push_back(account_closed("111111111111", "2026-11-03T00:00:00Z"));
    REQUIRE_FALSE((*engine)->append(request(30, std::move(refused)), kOperator).status.is_ok());

    LedgerWrites on_disk;
    REQUIRE_OK((*engine)->store().scan_ledger([&](std::string_view key, std::string_view value) {
      on_disk.emplace_back(std::string(key), std::string(value));
    }));
    CHECK(on_disk == ledger_entries((*engine)->registry()));
    CHECK(on_disk.size() == 4);  // two usage aggregates, one correction, one frozen bill
  }
  auto store = Store::open(dir.str(), StoreOptions::existing_read_only());
  REQUIRE(store.is_ok());
  auto replayed = replay_to_position(**store, std::numeric_limits<uint64_t>::max());
  REQUIRE(replayed.is_ok());
  LedgerWrites on_disk;
  REQUIRE_OK((*store)->scan_ledger([&](std::string_view key, std::string_view value) {
    on_disk.emplace_back(std::string(key), std::string(value));
  }));
  CHECK(on_disk == ledger_entries(*replayed));
  auto frozen = compute_bill(*replayed, "111111111111", 202610);
  REQUIRE(frozen.is_ok());
  CHECK(frozen->closed);
  CHECK(frozen->total == 2'007'040'000'000);
}

TEST_CASE("group commit: requests of one group are all-or-nothing each, in order, in one batch") {
  TempDir dir;
  ManualClock clock;
  auto engine = Engine::open(dir.str(), options_with(clock));
  REQUIRE(engine.is_ok());
  std::vector<AppendRequest> group(4);
  group[0].inputs = five_events();
  group[0].principal = kOperator;
  // Refused as a whole: its second event closes the management account.
  group[1].inputs.push_back(
      input(10, account_created("333333333333", "x@outside.io", "X", "", "2026-10-03T00:00:00Z")));
  group[1].inputs.push_back(input(11, account_closed("111111111111", "2026-10-04T00:00:00Z")));
  group[1].principal = kOperator;
  // Sees the state as left by group[0]: the member exists.
  group[2].inputs.push_back(input(12, account_left("222222222222", "2026-10-09T00:00:00Z")));
  group[2].principal = kOperator;
  // Expects the head before group[2]: aborted.
  group[3].inputs.push_back(
      input(13, account_created("444444444444", "y@outside.io", "Y", "", "2026-10-03T00:00:00Z")));
  group[3].expected_head = 3;
  const std::vector<AppendOutcome> outcomes = (*engine)->append_group(std::move(group));
  REQUIRE(outcomes.size() == 4);
  CHECK_OK(outcomes[0].status);
  CHECK_FAILS_WITH_DETAIL(outcomes[1].status, Code::kFailedPrecondition,
                          Reason::kConstraintViolation, "CANNOT_CLOSE_MANAGEMENT_ACCOUNT");
  CHECK(outcomes[1].failed_index == 1);
  CHECK_OK(outcomes[2].status);
  CHECK(outcomes[2].positions == std::vector<uint64_t>{6});
  CHECK_FAILS_WITH(outcomes[3].status, Code::kAborted, Reason::kWrongExpectedHead);
  CHECK((*engine)->store().head()->position == 6);
  CHECK((*engine)->registry().find_account("333333333333") == nullptr);
  CHECK((*engine)->registry().find_account("444444444444") == nullptr);
  auto store_digest = digest(replay_to_position((*engine)->store(), 100).value());
  CHECK(store_digest == digest((*engine)->registry()));
}

TEST_CASE(
    "group commit: the ids of a group's small requests, looked up together, are judged in "
    "request order against the store and the requests before them") {
  TempDir dir;
  ManualClock clock;
  auto engine = Engine::open(dir.str(), options_with(clock));
  REQUIRE(engine.is_ok());
  REQUIRE_OK((*engine)->append(five_events(), kOperator).status);
  auto single = [](AppendInput one) {
    AppendRequest request;
    request.inputs.push_back(std::move(one));
    request.principal = kOperator;
    return request;
  };
  auto created = [](const std::string& id) {
    return account_created(id, id + "@outside.io", "X", "", "2026-10-03T00:00:00Z");
  };
  std::vector<AppendRequest> group;
  group.push_back(single(std::move(five_events().front())));    // stored: answered, not stored
  group.push_back(single(input(10, created("333333333333"))));  // new
  group.push_back(single(input(10, created("333333333333"))));  // as the one before: its position
  group.push_back(single(input(1, created("555555555555"))));   // a stored id, other content
  group.push_back(single(input(11, account_closed("111111111111", "2026-10-04T00:00:00Z"))));
  group.push_back(single(input(11, created("444444444444"))));  // the refused one's id is free
  group.push_back(single(input(10, created("666666666666"))));  // id 10 taken above: refused
  const std::vector<AppendOutcome> outcomes = (*engine)->append_group(std::move(group));
  REQUIRE(outcomes.size() == 7);
  CHECK_OK(outcomes[0].status);
  CHECK(outcomes[0].positions == std::vector<uint64_t>{1});
  CHECK_OK(outcomes[1].status);
  CHECK(outcomes[1].positions == std::vector<uint64_t>{6});
  CHECK_OK(outcomes[2].status);
  CHECK(outcomes[2].positions == std::vector<uint64_t>{6});
  CHECK_FAILS_WITH(outcomes[3].status, Code::kAlreadyExists, Reason::kDuplicateEventId);
  CHECK_FAILS_WITH_DETAIL(outcomes[4].status, Code::kFailedPrecondition,
                          Reason::kConstraintViolation, "CANNOT_CLOSE_MANAGEMENT_ACCOUNT");
  CHECK_OK(outcomes[5].status);
  CHECK(outcomes[5].positions == std::vector<uint64_t>{7});
  CHECK_FAILS_WITH(outcomes[6].status, Code::kAlreadyExists, Reason::kDuplicateEventId);
  CHECK((*engine)->store().head()->position == 7);
  CHECK((*engine)->registry().find_account("555555555555") == nullptr);
  CHECK((*engine)->registry().find_account("666666666666") == nullptr);
  CHECK(digest(replay_to_position((*engine)->store(), 100).value()) ==
        digest((*engine)->registry()));
}

TEST_CASE(
    "group commit: a group prepared behind another and merged into it is stored and answered "
    "as one, or fails as one") {
  TempDir dir;
  ManualClock clock;
  auto engine = Engine::open(dir.str(), options_with(clock));
  REQUIRE(engine.is_ok());
  // The sequencer's order: the first group is being written while two more are prepared on top
  // of it and merged; the second sees the head the first left behind.
  PreparedGroup first = (*engine)->prepare_group(one_request(five_events()));
  PreparedGroup second = (*engine)->prepare_group(one_request(one_input(input(
      10, account_created("333333333333", "x@outside.io", "X", "", "2026-10-03T00:00:00Z")))));
  PreparedGroup third = (*engine)->prepare_group(one_request(
      one_input(input(
          11, account_created("444444444444", "y@outside.io", "Y", "", "2026-10-03T00:00:00Z"))),
      6));
  (*engine)->merge_groups(second, std::move(third));
  REQUIRE(second.outcomes.size() == 2);
  CHECK(second.records.size() == 2);
  (*engine)->finish_group(first, (*engine)->write_group(first));
  (*engine)->finish_group(second, (*engine)->write_group(second));
  CHECK_OK(second.outcomes[0].status);
  CHECK_OK(second.outcomes[1].status);
  CHECK(second.outcomes[0].positions == std::vector<uint64_t>{6});
  CHECK(second.outcomes[1].positions == std::vector<uint64_t>{7});
  CHECK(second.outcomes[1].head.position == 7);
  CHECK_FALSE((*engine)->groups_pending());
  CHECK((*engine)->store().head()->position == 7);
  CHECK(digest(replay_to_position((*engine)->store(), 100).value()) ==
        digest((*engine)->registry()));

  // A merged group whose write fails fails whole, and the state is the store's again.
  PreparedGroup fourth = (*engine)->prepare_group(one_request(one_input(input(
      12, account_created("555555555555", "z@outside.io", "Z", "", "2026-10-03T00:00:00Z")))));
  PreparedGroup fifth = (*engine)->prepare_group(one_request(one_input(input(
      13, account_created("666666666666", "w@outside.io", "W", "", "2026-10-03T00:00:00Z")))));
  (*engine)->merge_groups(fourth, std::move(fifth));
  (*engine)->finish_group(fourth, Status(Code::kUnavailable, Reason::kStorageError, "the disk"));
  for (const AppendOutcome& outcome : fourth.outcomes) {
    CHECK_FAILS_WITH(outcome.status, Code::kUnavailable, Reason::kStorageError);
  }
  CHECK((*engine)->registry().find_account("555555555555") == nullptr);
  CHECK((*engine)->registry().find_account("666666666666") == nullptr);
  CHECK((*engine)->store().head()->position == 7);
  CHECK(digest(replay_to_position((*engine)->store(), 100).value()) ==
        digest((*engine)->registry()));
}

TEST_CASE(
    "group commit: records are chained as their groups are written, and a group that stores "
    "nothing answers the head of the group before it") {
  TempDir dir;
  ManualClock clock;
  auto engine = Engine::open(dir.str(), options_with(clock));
  REQUIRE(engine.is_ok());
  auto stored_hash = [&](uint64_t position) {
    auto bytes = (*engine)->store().read(position);
    REQUIRE(bytes.is_ok());
    return sha256(*bytes);
  };
  // Three groups prepared one on top of the other; the second only repeats an event of the
  // first (an identical retry: it stores nothing). The writer stores all three before the
  // sequencer finishes the first, as it may.
  PreparedGroup first = (*engine)->prepare_group(one_request(five_events()));
  PreparedGroup second =
      (*engine)->prepare_group(one_request(one_input(std::move(five_events().front()))));
  PreparedGroup third = (*engine)->prepare_group(one_request(one_input(input(
      10, account_created("333333333333", "x@outside.io", "X", "", "2026-10-03T00:00:00Z")))));
  const Status first_written = (*engine)->write_group(first);
  const Status second_written = (*engine)->write_group(second);
  const Status third_written = (*engine)->write_group(third);
  (*engine)->finish_group(first, first_written);
  (*engine)->finish_group(second, second_written);
  (*engine)->finish_group(third, third_written);
  REQUIRE_OK(first.outcomes[0].status);
  REQUIRE_OK(second.outcomes[0].status);
  REQUIRE_OK(third.outcomes[0].status);
  CHECK(second.outcomes[0].positions == std::vector<uint64_t>{1});
  CHECK(second.records.empty());
  // Each answers the head its group left: position and the hash of the record stored there.
  CHECK(first.outcomes[0].head.position == 5);
  CHECK(first.outcomes[0].head.hash == stored_hash(5));
  CHECK(second.outcomes[0].head.position == 5);
  CHECK(second.outcomes[0].head.hash == stored_hash(5));
  CHECK(third.outcomes[0].head.position == 6);
  CHECK(third.outcomes[0].head.hash == stored_hash(6));
  CHECK((*engine)->store().head()->hash == stored_hash(6));
  // Every record links to the one before it, and the records are the bytes encode_record gives
  // with that link.
  const VerifyReport report = verify_chain((*engine)->store());
  CHECK_OK(report.status);
  CHECK(report.records == 6);
  auto record_6 = (*engine)->store().read(6);
  REQUIRE(record_6.is_ok());
  const fb::EventRecord* root = fb::GetEventRecord(record_6->data());
  CHECK(hash_of(*root->prev_hash()) == stored_hash(5));
  std::string unchained = *record_6;
  set_prev_hash(unchained, Hash{});
  CHECK(unchained != *record_6);
  set_prev_hash(unchained, stored_hash(5));
  CHECK(unchained == *record_6);
}

TEST_CASE("checkpoint: start-up loads the latest checkpoint and replays only the tail") {
  TempDir dir;
  ManualClock clock;
  Hash served{};
  {
    EngineOptions options = options_with(clock);
    options.checkpoint_every = 5;  // a checkpoint after the first request
    auto engine = Engine::open(dir.str(), options);
    REQUIRE(engine.is_ok());
    REQUIRE_OK((*engine)->append(five_events(), kOperator).status);
    std::vector<AppendInput> tail;
    tail.push_back(
        input(9, account_created("333333333333", "x@outside.io", "X", "", "2026-10-03T00:00:00Z")));
    REQUIRE_OK((*engine)->append(std::move(tail), kOperator).status);
    served = digest((*engine)->registry());
  }
  auto reopened = Engine::open(dir.str(), options_with(clock));
  REQUIRE(reopened.is_ok());
  CHECK((*reopened)->loaded_checkpoint() == 5);
  CHECK(digest((*reopened)->registry()) == served);
}

TEST_CASE("checkpoint: a damaged checkpoint is ignored and the whole log is replayed") {
  TempDir dir;
  ManualClock clock;
  Hash served{};
  {
    auto engine = Engine::open(dir.str(), options_with(clock));
    REQUIRE(engine.is_ok());
    REQUIRE_OK((*engine)->append(five_events(), kOperator).status);
    REQUIRE_OK((*engine)->checkpoint());
    served = digest((*engine)->registry());
  }
  {
    RawStore raw(dir.str());
    std::string value = raw.get(5, store_format::position_key(5));
    value[value.size() / 2] = static_cast<char>(value[value.size() / 2] ^ 0x40);
    raw.put(5, store_format::position_key(5), value);
  }
  auto reopened = Engine::open(dir.str(), options_with(clock));
  REQUIRE(reopened.is_ok());
  CHECK((*reopened)->loaded_checkpoint() == 0);
  CHECK(digest((*reopened)->registry()) == served);
}

TEST_CASE("append: a refused request of usage events reverts the usage it applied, exactly") {
  TempDir dir;
  ManualClock clock;
  clock.now = at("2026-11-26T00:00:00Z");
  auto engine = Engine::open(dir.str(), options_with(clock));
  REQUIRE(engine.is_ok());
  std::vector<AppendInput> setup;
  uint8_t id = 1;
  for (fb::EventT& event : worked_example_events()) {
    setup.push_back(input(id++, std::move(event), clock.now));
  }
  REQUIRE_OK((*engine)->append(std::move(setup), kOperator).status);
  const Hash before = digest((*engine)->registry());
  const Micros member_last_usage =
      (*engine)->registry().find_account("222222222222")->last_usage_at;

  // New aggregates (another usage type, another month), existing ones, then a refused event.
  std::vector<AppendInput> usage;
  usage.push_back(input(
      40, usage_recorded("222222222222", "DataTransfer-Out-GB", "7", "2026-11-10T00:00:00Z")));
  usage.push_back(input(
      41, usage_recorded("111111111111", "DataTransfer-Out-GB", "3", "2026-10-20T00:00:00Z")));
  usage.push_back(input(
      42, usage_recorded("222222222222", "DataTransfer-Out-GB", "1", "2026-10-21T00:00:00Z")));
  usage.push_back(input(
      43, usage_recorded("999999999999", "DataTransfer-Out-GB", "1", "2026-10-21T00:00:00Z")));
  const AppendOutcome refused = (*engine)->append(std::move(usage), kOperator);
  CHECK_FAILS_WITH(refused.status, Code::kNotFound, Reason::kAccountNotFound);
  CHECK(refused.failed_index == 3);
  CHECK(digest((*engine)->registry()) == before);
  CHECK((*engine)->registry().find_account("222222222222")->last_usage_at == member_last_usage);
  CHECK((*engine)->registry().billing.usage_entries() == 2);
  CHECK((*engine)->store().head()->position == 8);

  // The same events without the bad one are accepted, and the ledger family equals a replay
  // (each aggregate written once per batch, with its last value).
  std::vector<AppendInput> accepted;
  accepted.push_back(input(
      40, usage_recorded("222222222222", "DataTransfer-Out-GB", "7", "2026-11-10T00:00:00Z")));
  accepted.push_back(input(
      41, usage_recorded("111111111111", "DataTransfer-Out-GB", "3", "2026-10-20T00:00:00Z")));
  accepted.push_back(input(
      42, usage_recorded("111111111111", "DataTransfer-Out-GB", "1", "2026-10-21T00:00:00Z")));
  REQUIRE_OK((*engine)->append(std::move(accepted), kOperator).status);
  LedgerWrites on_disk;
  REQUIRE_OK((*engine)->store().scan_ledger([&](std::string_view key, std::string_view value) {
    on_disk.emplace_back(std::string(key), std::string(value));
  }));
  CHECK(on_disk == ledger_entries((*engine)->registry()));
  auto replayed = replay_to_position((*engine)->store(), 100);
  REQUIRE(replayed.is_ok());
  CHECK(digest(*replayed) == digest((*engine)->registry()));
}

TEST_CASE("store: a batched id lookup answers every id in the order asked, stored or not") {
  const uint64_t seed = printed_seed("id lookup");
  std::mt19937_64 random(seed);
  auto random_id = [&] {
    EventIdBytes id;
    for (uint8_t& byte : id) byte = static_cast<uint8_t>(random());
    return id;
  };
  // Random ids, and ids that differ from another only in the last byte, only in the first
  // (above and below 0x80), or only in the second half: the lookups are sorted by key first.
  std::vector<EventIdBytes> stored;
  for (int i = 0; i < 200; ++i) {
    EventIdBytes id = random_id();
    stored.push_back(id);
    id[15] ^= 0x01;
    stored.push_back(id);
    id[0] ^= 0x80;
    stored.push_back(id);
    id[9] ^= 0xff;
    stored.push_back(id);
  }
  std::sort(stored.begin(), stored.end());
  stored.erase(std::unique(stored.begin(), stored.end()), stored.end());
  std::shuffle(stored.begin(), stored.end(), random);

  TempDir dir;
  auto store = Store::open(dir.str());
  REQUIRE(store.is_ok());
  // The event stored at each position is its own (the store takes a stored id's content hash
  // from its record).
  auto event_at = [](uint64_t position) {
    return account_created("1" + std::to_string(100'000'000'000 + position), "a@example.com", "A",
                           "", "2026-10-01T00:00:00Z");
  };
  auto content_of = [&](uint64_t position) { return event_content_hash(event_at(position)); };
  std::map<EventIdBytes, uint64_t> positions;
  std::vector<NewRecord> records;
  for (const EventIdBytes& id : stored) {
    NewRecord record;
    record.position = positions.size() + 1;
    record.bytes =
        encode_record(record.position, 0, id, "operator:test", Hash{}, event_at(record.position));
    record.event_id = id;
    positions[id] = record.position;
    records.push_back(std::move(record));
    if (records.size() == 100) {
      REQUIRE_OK((*store)->append(records));
      records.clear();
      // Some ids in table files, the later ones in the memtable.
      if (positions.size() == 400) REQUIRE_OK((*store)->flush());
    }
  }
  REQUIRE_OK((*store)->append(records));

  // Every stored id, ids one bit away from a stored one, new random ids, and repeats, mixed.
  std::vector<EventIdBytes> asked = stored;
  for (int i = 0; i < 100; ++i) {
    EventIdBytes near = stored[random() % stored.size()];
    near[random() % near.size()] ^= static_cast<uint8_t>(1u << (random() % 8));
    asked.push_back(near);
    asked.push_back(random_id());
    asked.push_back(stored[random() % stored.size()]);
  }
  std::shuffle(asked.begin(), asked.end(), random);
  auto found = (*store)->find_event_ids(asked);
  REQUIRE(found.is_ok());
  REQUIRE(found->size() == asked.size());
  size_t hits = 0;
  for (size_t i = 0; i < asked.size(); ++i) {
    const auto expected = positions.find(asked[i]);
    if (expected == positions.end()) {
      CHECK_FALSE((*found)[i].has_value());
      continue;
    }
    ++hits;
    REQUIRE((*found)[i].has_value());
    CHECK((*found)[i]->position == expected->second);
    CHECK((*found)[i]->content_hash == content_of(expected->second));
  }
  CHECK(hits >= stored.size() + 100);
}
