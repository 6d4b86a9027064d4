// Stored records: an event packed once (pack_event) is copied whole into its record, and the
// record reads back as that event, whatever the sizes around it.
#include "replay/record.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/support/events.h"
#include "tests/support/status_matchers.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {

// Events of every shape of field: strings of many lengths, a vector of tables (tiers), an
// optional scalar, nested strings in a vector of pairs.
std::vector<fb::EventT> sample_events() {
  std::vector<fb::EventT> events = worked_example_events();
  events.push_back(usage_recorded("1", "a", "1", "2026-10-05T10:00:00Z"));
  events.push_back(
      usage_recorded("123456789012", std::string(128, 'x'), "0.000001", "2026-10-05T10:00:00Z"));
  events.push_back(
      credit_granted("c-1", "111111111111", "12.5", "2026-12", "2026-10-06T00:00:00Z"));
  events.push_back(
      credit_granted("c-2", "111111111111", "1", std::nullopt, "2026-10-06T00:00:00Z"));
  events.push_back(policy_created("p-123", "o-exampleorg1", "deny ec2",
                                  R"({"Statement":[{"Effect":"Deny","Action":"ec2:*"}]})",
                                  "2026-10-07T00:00:00Z"));
  events.push_back(all_features_requested("o-exampleorg1", {{"h-1", "222222222222"}, {"h-22", "3"}},
                                          "2026-10-08T00:00:00Z"));
  events.push_back(billing_period_closed("2026-10", "2026-11-01T00:00:00Z"));
  return events;
}

}  // namespace

TEST_CASE("a record around a packed event verifies and holds that event, byte for byte") {
  EventIdBytes id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(0xa0 + i);
  Hash previous{};
  uint64_t position = 0;
  // Actors of every length modulo 8 move the record's other fields around the copied event.
  const std::vector<std::string> actors = {
      "", "a", "ab", "operator:b", "account:1", "account:12", "operator:bench", "x123456"};
  for (const fb::EventT& event : sample_events()) {
    const PackedEvent packed = pack_event(event);
    CHECK(packed.content_hash == event_content_hash(event));
    CHECK(packed.content_hash == sha256(packed.bytes));
    for (const std::string& actor : actors) {
      ++position;
      const Micros recorded_at = 1'790'000'000'000'000 + static_cast<Micros>(position);
      const std::string bytes =
          encode_record(position, recorded_at, id, actor, previous, packed.bytes);
      // The overload that packs the event itself gives the same bytes.
      CHECK(bytes == encode_record(position, recorded_at, id, actor, previous, event));
      // The verifier checks every offset and the alignment of every scalar.
      auto decoded = decode_record(StoredRecord{position, bytes});
      REQUIRE_OK(decoded.status());
      const fb::EventRecord& record = **decoded;
      CHECK(record.recorded_at() == recorded_at);
      CHECK(record.actor()->str() == actor);
      CHECK(hash_of(*record.prev_hash()) == previous);
      CHECK(std::equal(id.begin(), id.end(), record.event_id()->bytes()->begin()));
      fb::EventT read_back;
      record.event()->UnPackTo(&read_back);
      CHECK(pack_event(read_back).bytes == packed.bytes);
      previous = sha256(bytes);
    }
  }
}
