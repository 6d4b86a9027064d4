// The JSON Lines form of events (docs/events.md): one JSON object per line, parsed with
// simdjson. Decimals are exact (strings or JSON integers, never through a double), every field
// is checked for type, unknown and duplicated fields are refused.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "projections/credentials.h"
#include "projections/status.h"
#include "schema/events_generated.h"

namespace orgledger {

using EventIdBytes = std::array<uint8_t, 16>;

struct ParsedEvent {
  // The line's own "event_id" (32 hex digits), when it has one.
  std::optional<EventIdBytes> event_id;
  fb::EventT event;
  // PasswordSet and MfaEnabled lines: the secret that goes with the fact (never stored in the
  // log), and whether the line gave occurred_at (else the appender uses the current time).
  std::optional<CredentialSecret> secret;
  bool occurred_at_given = true;
};

// Parses one JSON line. Returns InvalidArgument/InvalidInput naming the offending field.
// Thread-compatible: each thread needs its own JsonEventParser (it reuses simdjson buffers).
class JsonEventParser {
 public:
  JsonEventParser();
  ~JsonEventParser();
  JsonEventParser(const JsonEventParser&) = delete;
  JsonEventParser& operator=(const JsonEventParser&) = delete;

  Result<ParsedEvent> parse(std::string_view line);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The JSON Lines form of a stored event (the form JsonEventParser reads), with its event_id:
// parse(render(e)) gives e back. Thread-safe.
std::string event_to_json(const fb::Event& event, const EventIdBytes& event_id);

// Parses 32 hex digits into an event id.
Result<EventIdBytes> parse_event_id(std::string_view hex);

}  // namespace orgledger
