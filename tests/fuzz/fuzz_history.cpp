// Fuzz target: a history of events as JSON Lines (one event per line). Every line that parses
// is validated against the state left by the events before it and, when valid, applied and
// stored in an in-memory chained log. Whatever the sequence, nothing may crash, and at the end
// a replay of the log from nothing must equal the state built event by event (digest), and
// every account, its bill for every month seen, and every organization must render.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string_view>

#include "projections/event_json.h"
#include "replay/fold.h"
#include "replay/reports.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/support/memory_log.h"

using namespace orgledger;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static JsonEventParser parser;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  testing::MemoryLog log;
  Micros recorded_at = 0;
  std::set<Month> months;
  size_t start = 0;
  while (start < input.size()) {
    size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    auto parsed = parser.parse(input.substr(start, end - start));
    start = end + 1;
    if (!parsed.is_ok()) continue;
    // The log's time never decreases; an event is recorded when it occurred, or after. Lines
    // without occurred_at (PasswordSet, MfaEnabled) take the time of the log, as appenders do.
    if (!parsed->occurred_at_given) parsed->event.occurred_at = recorded_at;
    recorded_at = std::max(recorded_at, parsed->event.occurred_at);
    if (log.append(parsed->event, recorded_at).is_ok()) {
      months.insert(month_of(parsed->event.occurred_at));
    }
  }
  auto replayed = replay_to_position(log, log.records().size());
  FUZZ_CHECK(replayed.is_ok());
  FUZZ_CHECK(digest(*replayed) == digest(log.state()));
  for (const auto& [account_id, account] : log.state().accounts) {
    FUZZ_CHECK(render_account(log.state(), account_id, true, recorded_at).is_ok());
    for (Month month : months) {
      auto bill = render_bill(log.state(), account_id, month, true, "");
      FUZZ_CHECK(bill.is_ok() || !bill.status().message().empty());
      auto focus = render_focus(log.state(), account_id, month);
      FUZZ_CHECK(focus.is_ok() || !focus.status().message().empty());
    }
  }
  for (const auto& [org_id, organization] : log.state().organizations) {
    FUZZ_CHECK(render_organization(log.state(), org_id, true, recorded_at).is_ok());
  }
  return 0;
}
