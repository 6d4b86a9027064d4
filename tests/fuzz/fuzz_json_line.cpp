// Fuzz target: one JSON Lines event (projections/event_json). Any bytes must parse or be refused
// without crashing; a line that parses must render back (event_to_json) to a line that parses
// to the same event, byte for byte once packed.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "projections/event_json.h"
#include "replay/record.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/support/events.h"

using namespace orgledger;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static JsonEventParser parser;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  auto parsed = parser.parse(line);
  if (!parsed.is_ok()) {
    FUZZ_CHECK(!parsed.status().message().empty());
    return 0;
  }
  const EventIdBytes id = parsed->event_id.value_or(EventIdBytes{});
  const std::string packed = pack_event(parsed->event).bytes;
  const std::string rendered = event_to_json(*flatbuffers::GetRoot<fb::Event>(packed.data()), id);
  auto again = parser.parse(rendered);
  FUZZ_CHECK(again.is_ok());
  FUZZ_CHECK(pack_event(again->event).bytes == packed);
  return 0;
}
