// Property: for random histories (valid and invalid events mixed), the state built while
// appending equals a full replay, and the state as of any position k equals a fresh fold of the
// first k records. Seeded; the seed is printed, and ORGLEDGER_SEED=<n> reruns one.
#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
#include <random>

#include "engine/engine.h"
#include "projections/snapshot.h"
#include "replay/fold.h"
#include "tests/support/events.h"
#include "tests/support/memory_log.h"
#include "tests/support/secrets.h"
#include "tests/support/seed.h"
#include "tests/support/temp_dir.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {

constexpr int kCases = 1000;
constexpr int kEventsPerCase = 40;

// Draws events over a small universe so that ids collide often and every rule gets exercised.
class HistoryGenerator {
 public:
  explicit HistoryGenerator(uint64_t seed) : random_(seed) {}

  // The next event; `recorded_at` receives a log time that never decreases.
  fb::EventT next(Micros& recorded_at) {
    // Business time mostly moves forward by up to 3 days, sometimes back by up to a day.
    clock_ += pick(0, 100) < 90 ? pick(0, 3 * 86'400) * kMicrosPerSecond
                                : -pick(0, 86'400) * kMicrosPerSecond;
    const std::string when = format_time(clock_);
    // Mostly recorded shortly after it occurred; sometimes more than 5 minutes before (future).
    const Micros offset = pick(-7 * 60, 3'600) * kMicrosPerSecond;
    recorded_at = std::max(last_recorded_ + 1, clock_ + offset);
    last_recorded_ = recorded_at;
    // Most histories start with a few accounts and an organization, so that later events have
    // something to act on; the rest is drawn at random.
    const int64_t index = generated_++;
    if (index < 6 && pick(0, 9) != 0) {
      const std::string first = std::string(11, '1') + "1";
      if (index < 3) {
        const std::string id = std::string(11, '1') + std::to_string(index + 1);
        return account_created(id, "user" + id + "@example.com", "Account", "", when);
      }
      // A management account needs a password and MFA first.
      if (index == 3) return password_changed(first, when);
      if (index == 4) return mfa_enabled(first, "phone", when);
      return organization_created(organization(), first, when);
    }
    // Weighted so that every rule is reached often: invitations and their answers need
    // standalone accounts and live organizations first.
    static const std::vector<double> kWeights = {6, 4, 1, 6, 6, 2, 2, 2, 2, 1,
                                                 1, 2, 3, 2, 5, 5, 1, 1, 1};
    switch (std::discrete_distribution<int>(kWeights.begin(), kWeights.end())(random_)) {
      case 0: {
        const int n = pick(0, 5);
        // Mostly one email per account id, sometimes another account's (EmailAlreadyExists).
        const std::string id = account();
        const std::string email = pick(0, 9) == 0
                                      ? "user" + std::to_string(pick(1, 6)) + "@example.com"
                                      : "user" + id + "@example.com";
        return account_created(id, email, pick(0, 20) == 0 ? "" : "Account " + std::to_string(n),
                               pick(0, 2) == 0 ? organization() : "", when);
      }
      case 1:
        return organization_created(organization(), account(), when);
      case 2:
        return quota_set(organization(), static_cast<uint32_t>(pick(0, 6)), when);
      case 3:
        return account_invited(new_handshake(), organization(), account(), when);
      case 4:
        return handshake_accepted(handshake(), when);
      case 5:
        return handshake_declined(handshake(), when);
      case 6:
        return handshake_canceled(handshake(), when);
      case 7:
        return account_removed(organization(), account(), when);
      case 8:
        return account_left(account(), when);
      case 9:
        return account_closed(account(), when);
      case 10:
        return organization_deleted(organization(), when);
      case 11: {
        const std::string org = organization();
        return ou_created(ou(org), pick(0, 2) == 0 ? "r-" + org.substr(2) : ou(org),
                          "Unit " + std::to_string(pick(0, 3)), when);
      }
      case 12: {
        const std::string org = organization();
        return account_moved(account(), pick(0, 2) == 0 ? "r-" + org.substr(2) : ou(org), when);
      }
      case 13: {
        static const char* kDocuments[] = {R"([{"effect":"Deny","services":["ec2"]}])",
                                           R"([{"effect":"Allow","services":["s3"]}])",
                                           R"([{"effect":"Deny","services":["*"]}])", "not json"};
        return policy_created(policy(), organization(), "Policy " + std::to_string(pick(0, 3)),
                              kDocuments[pick(0, 3)], when);
      }
      case 14:
        return policy_attached(policy(), target(), when);
      case 15:
        return policy_detached(policy(), target(), when);
      case 16:
        return policy_deleted(policy(), when);
      case 17:
        return password_changed(account(), when);
      default:
        return mfa_enabled(
            account(), pick(0, 3) == 0 ? "bad device!" : "key-" + std::to_string(pick(1, 2)), when);
    }
  }

 private:
  int64_t pick(int64_t low, int64_t high) {
    return std::uniform_int_distribution<int64_t>(low, high)(random_);
  }
  std::string account() {
    if (pick(0, 40) == 0) return "12345";  // malformed
    return std::string(11, '1') + std::to_string(pick(1, 6));
  }
  std::string organization() {
    static const char* kIds[] = {"o-firstorg01", "o-secondorg2"};
    return kIds[pick(0, 1)];
  }
  std::string ou(const std::string& org) {
    return "ou-" + org.substr(2) + "-unit000" + std::to_string(pick(1, 3));
  }
  std::string policy() { return "p-policy00" + std::to_string(pick(1, 2)); }
  std::string target() {
    const std::string org = organization();
    switch (pick(0, 2)) {
      case 0:
        return "r-" + org.substr(2);
      case 1:
        return ou(org);
      default:
        return account();
    }
  }
  // Invitations take fresh ids (sometimes a used one); answers name one of the latest three.
  std::string new_handshake() {
    if (pick(0, 9) != 0) ++handshakes_issued_;
    return handshake_id(handshakes_issued_);
  }
  std::string handshake() {
    return handshake_id(std::max<int64_t>(0, handshakes_issued_ - pick(0, 2)));
  }
  static std::string handshake_id(int64_t n) { return "h-invite" + std::to_string(10'000 + n); }

  std::mt19937_64 random_;
  Micros clock_ = at("2026-09-01T00:00:00Z");
  Micros last_recorded_ = 0;
  int64_t handshakes_issued_ = 0;
  int64_t generated_ = 0;
};

}  // namespace

TEST_CASE(
    "property: incremental state equals full replay, and as-of k equals a fold of k "
    "records, over 1000 random histories") {
  const uint64_t seed = printed_seed("property");
  uint64_t total_valid = 0;
  uint64_t total_invalid = 0;
  std::map<std::string, uint64_t> valid_by_type;
  for (int test_case = 0; test_case < kCases; ++test_case) {
    const uint64_t case_seed = seed + static_cast<uint64_t>(test_case);
    CAPTURE(case_seed);
    HistoryGenerator generator(case_seed);
    MemoryLog log;
    std::vector<Hash> digest_after{digest(Registry{})};  // digest_after[k]: state after k records
    for (int i = 0; i < kEventsPerCase; ++i) {
      Micros recorded_at = 0;
      const fb::EventT event = generator.next(recorded_at);
      if (log.append(event, recorded_at).is_ok()) {
        digest_after.push_back(digest(log.state()));
        ++total_valid;
        ++valid_by_type[fb::EnumNameEventBody(event.body.type)];
      } else {
        ++total_invalid;
      }
    }
    auto replayed = replay_to_position(log, std::numeric_limits<uint64_t>::max());
    REQUIRE(replayed.is_ok());
    REQUIRE(digest(*replayed) == digest(log.state()));
    // A checkpoint snapshot decodes to the same state.
    auto restored = decode_snapshot(encode_snapshot(log.state()));
    REQUIRE(restored.is_ok());
    REQUIRE(digest(*restored) == digest(log.state()));

    const uint64_t records = log.records().size();
    const uint64_t k = records == 0 ? 0 : case_seed % (records + 1);
    auto as_of = replay_to_position(log, k);
    REQUIRE(as_of.is_ok());
    REQUIRE(digest(*as_of) == digest_after[k]);
    if (k > 0) {
      auto until = replay_until(log, log.recorded_at()[k - 1]);
      REQUIRE(until.is_ok());
      REQUIRE(digest(*until) == digest_after[k]);
    }
  }
  MESSAGE("valid events ", total_valid, ", refused ", total_invalid);
  std::string by_type;
  for (const auto& [type, count] : valid_by_type)
    by_type += type + "=" + std::to_string(count) + " ";
  MESSAGE("valid by type: ", by_type);
  // Every event type and both paths must have been exercised for the property to mean anything.
  // The common types must all have been accepted many times; the rarer policy events (moves,
  // detaches, deletes) show in the counts above.
  for (const char* type :
       {"AccountCreated", "OrganizationCreated", "AccountQuotaSet", "AccountInvited",
        "HandshakeAccepted", "HandshakeDeclined", "HandshakeCanceled", "AccountRemoved",
        "AccountLeft", "AccountClosed", "OrganizationDeleted", "OrganizationalUnitCreated",
        "PolicyCreated", "PolicyAttached"}) {
    CHECK_MESSAGE(valid_by_type[type] > 0, type);
  }
  CHECK(total_valid > kCases * 3);
  CHECK(total_invalid > kCases * 3);
}

TEST_CASE("property: the engine's served state equals a replay of its RocksDB log after reopen") {
  const uint64_t seed = printed_seed("engine property");
  for (int test_case = 0; test_case < 20; ++test_case) {
    const uint64_t case_seed = seed + static_cast<uint64_t>(test_case);
    CAPTURE(case_seed);
    TempDir dir;
    HistoryGenerator generator(case_seed);
    Micros now = 0;
    EngineOptions options;
    options.clock = [&now] { return now; };
    Hash served{};
    {
      auto engine = Engine::open(dir.str(), options);
      REQUIRE(engine.is_ok());
      uint8_t next_id = 0;
      // Requests of 1 to 3 events: a request with any invalid event must store none of them.
      for (int i = 0; i < kEventsPerCase;) {
        std::vector<AppendInput> request;
        const int size = 1 + static_cast<int>(case_seed % 3 + i) % 3;
        for (int j = 0; j < size && i < kEventsPerCase; ++j, ++i) {
          AppendInput input;
          input.event = generator.next(now);
          input.event_id[0] = ++next_id;
          attach_test_secret(input, now);
          request.push_back(std::move(input));
        }
        (void)(*engine)->append(std::move(request),
                                local_operator());  // refusals are part of the test
      }
      served = digest((*engine)->registry());
    }
    auto reopened = Engine::open(dir.str(), options);
    REQUIRE(reopened.is_ok());
    REQUIRE(digest((*reopened)->registry()) == served);
  }
}
