// Folding history: to a position, until a time, and gaps.
#include "replay/fold.h"

#include <doctest/doctest.h>

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

// Hands out records but skips one position.
class GappyLog final : public RecordSource {
 public:
  explicit GappyLog(const MemoryLog& log, uint64_t missing) : log_(log), missing_(missing) {}
  Result<Head> head() const override { return log_.head(); }
  Status scan(uint64_t from, uint64_t to, const RecordVisitor& visit) const override {
    return log_.scan(from, to, [&](const StoredRecord& record) {
      return record.position == missing_ ? ScanOutcome::kContinue : visit(record);
    });
  }

 private:
  const MemoryLog& log_;
  uint64_t missing_;
};
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
  GappyLog gappy(log, 2);
  Registry state;
  auto summary = fold(gappy, FoldRange{}, state);
  REQUIRE_FALSE(summary.is_ok());
  CHECK(summary.status().code() == Code::kDataLoss);
  CHECK(summary.status().message().find("position 2") != std::string::npos);
}
