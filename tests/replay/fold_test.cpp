// Folding history: to a position, until a time, and gaps.
#include "replay/fold.h"

#include <doctest/doctest.h>

#include <functional>

#include "tests/support/events.h"
#include "tests/support/memory_log.h"
#include "tests/support/status_matchers.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {
MemoryLog sample_log() {
  MemoryLog log;
  REQUIRE_OK(
      log.append(account_created("111111111111", "b@example.com", "E", "", "2026-10-01T00:00:00Z"),
                 at("2026-10-01T00:00:00Z")));
  for (const fb::EventT& event : secure_account("111111111111", "2026-10-01T00:00:30Z")) {
    REQUIRE_OK(log.append(event, at("2026-10-01T00:00:30Z")));
  }
  REQUIRE_OK(
      log.append(organization_created("o-exampleorg1", "111111111111", "2026-10-01T00:01:00Z"),
                 at("2026-10-01T00:01:00Z")));
  REQUIRE_OK(log.append(account_created("222222222222", "m@example.com", "M", "o-exampleorg1",
                                        "2026-10-02T00:00:00Z"),
                        at("2026-10-02T00:00:00Z")));
  return log;
}

// Hands out the records of a log, each through `hand_out` (which may skip or change it).
class AlteredLog final : public RecordSource {
 public:
  using HandOut = std::function<ScanOutcome(const StoredRecord&, const RecordVisitor&)>;
  AlteredLog(const MemoryLog& log, HandOut hand_out) : log_(log), hand_out_(std::move(hand_out)) {}
  Result<Head> head() const override { return log_.head(); }
  Status scan(uint64_t from, uint64_t to, const RecordVisitor& visit) const override {
    return log_.scan(from, to,
                     [&](const StoredRecord& record) { return hand_out_(record, visit); });
  }

 private:
  const MemoryLog& log_;
  HandOut hand_out_;
};

// Skips the record at `missing`.
AlteredLog gappy_log(const MemoryLog& log, uint64_t missing) {
  return AlteredLog(log, [missing](const StoredRecord& record, const RecordVisitor& visit) {
    return record.position == missing ? ScanOutcome::kContinue : visit(record);
  });
}

// Hands out bytes that are not a record at `corrupt`.
AlteredLog corrupt_log(const MemoryLog& log, uint64_t corrupt) {
  return AlteredLog(log, [corrupt](const StoredRecord& record, const RecordVisitor& visit) {
    return visit(record.position == corrupt ? StoredRecord{record.position, "garbage"} : record);
  });
}
}  // namespace

TEST_CASE("fold: a full replay equals the state built while appending") {
  MemoryLog log = sample_log();
  auto replayed = replay_to_position(log, std::numeric_limits<uint64_t>::max());
  REQUIRE(replayed.is_ok());
  CHECK(digest(*replayed) == digest(log.state()));
}

TEST_CASE("fold: as of position 4 the member does not exist yet") {
  MemoryLog log = sample_log();
  auto replayed = replay_to_position(log, 4);
  REQUIRE(replayed.is_ok());
  CHECK(replayed->find_organization("o-exampleorg1") != nullptr);
  CHECK(replayed->find_account("222222222222") == nullptr);
  CHECK(replay_to_position(log, 0)->accounts.empty());
}

TEST_CASE("fold: until a time stops before the first record recorded after it") {
  MemoryLog log = sample_log();
  auto replayed = replay_until(log, at("2026-10-01T12:00:00Z"));
  REQUIRE(replayed.is_ok());
  CHECK(replayed->accounts.size() == 1);
  CHECK(replayed->organizations.size() == 1);
}

TEST_CASE("fold: a missing position fails with DataLoss naming it") {
  MemoryLog log = sample_log();
  const AlteredLog gappy = gappy_log(log, 2);
  Registry state;
  auto summary = fold(gappy, FoldRange{}, state);
  REQUIRE_FALSE(summary.is_ok());
  CHECK(summary.status().code() == Code::kDataLoss);
  CHECK(summary.status().message().find("position 2") != std::string::npos);
}

namespace {

// The sample log, a price and `count` usage records, one a minute from 2026-10-03.
MemoryLog long_log(int count) {
  MemoryLog log = sample_log();
  REQUIRE_OK(log.append(price_schedule_set("Requests", "ec2", "request", "2026-10",
                                           {{std::nullopt, "0.0004"}}, "2026-10-01T00:00:00Z"),
                        at("2026-10-02T00:00:00Z")));
  for (int n = 0; n < count; ++n) {
    const Micros when = at("2026-10-03T00:00:00Z") + n * kMicrosPerMinute;
    fb::EventT usage = usage_recorded(n % 2 == 0 ? "111111111111" : "222222222222", "Requests",
                                      std::to_string(n % 7 + 1), "2026-10-03T00:00:00Z");
    usage.occurred_at = when;
    REQUIRE_OK(log.append(usage, when));
  }
  return log;
}

}  // namespace

TEST_CASE("fold: a log of many read-ahead batches replays whole, and stops early at any point") {
  MemoryLog log = long_log(10'000);
  const uint64_t head = log.head()->position;
  auto whole = replay_to_position(log, std::numeric_limits<uint64_t>::max());
  REQUIRE(whole.is_ok());
  CHECK(digest(*whole) == digest(log.state()));
  for (uint64_t position :
       {uint64_t{1}, uint64_t{1023}, uint64_t{1024}, uint64_t{4097}, uint64_t{9000}, head - 1}) {
    CAPTURE(position);
    auto by_position = replay_to_position(log, position);
    auto by_time = replay_until(log, log.recorded_at()[position - 1]);
    REQUIRE(by_position.is_ok());
    REQUIRE(by_time.is_ok());
    CHECK(digest(*by_position) == digest(*by_time));
    CHECK(digest(*by_position) != digest(*whole));
  }
}

TEST_CASE("fold: the records' checks on either thread give the same state") {
  MemoryLog log = long_log(5'000);
  for (RecordChecks checks :
       {RecordChecks::kBalanced, RecordChecks::kOnReader, RecordChecks::kOnFolder}) {
    CAPTURE(static_cast<int>(checks));
    Registry state;
    auto summary = fold(log, FoldRange{}, state, checks);
    REQUIRE(summary.is_ok());
    CHECK(summary->last_position == log.head()->position);
    CHECK(digest(state) == digest(log.state()));
  }
}

TEST_CASE("fold: a record that does not decode fails the fold only when the fold reaches it") {
  MemoryLog log = long_log(3'000);
  const uint64_t corrupt = 2'500;
  const AlteredLog corrupted = corrupt_log(log, corrupt);
  auto before = replay_to_position(log, corrupt - 1);
  REQUIRE(before.is_ok());
  // Whichever thread checks the records (the reader stops checking at the bad one).
  for (RecordChecks checks :
       {RecordChecks::kBalanced, RecordChecks::kOnReader, RecordChecks::kOnFolder}) {
    CAPTURE(static_cast<int>(checks));
    // Stops at the record before it (recorded after `until`), though the read-ahead got further.
    Registry early;
    auto stopped =
        fold(corrupted,
             FoldRange{1, std::numeric_limits<uint64_t>::max(), log.recorded_at()[corrupt - 3]},
             early, checks);
    REQUIRE(stopped.is_ok());
    CHECK(stopped->last_position == corrupt - 2);
    Registry state;
    auto summary = fold(corrupted, FoldRange{}, state, checks);
    REQUIRE_FALSE(summary.is_ok());
    CHECK(summary.status().code() == Code::kDataLoss);
    CHECK(summary.status().message().find("position " + std::to_string(corrupt)) !=
          std::string::npos);
    // What was applied before it is there, and nothing after it.
    CHECK(digest(state) == digest(*before));
  }
}
