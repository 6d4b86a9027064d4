// Decoding stored records (docs/format.md): every stored value is checked with the FlatBuffers
// Verifier before any field is read.
#pragma once

#include <string>
#include <string_view>

#include "projections/event_json.h"
#include "projections/status.h"
#include "projections/values.h"
#include "replay/record_source.h"
#include "schema/events_generated.h"

namespace orgledger {

// Returns the verified root of `record.bytes`, or DataLoss/CorruptRecord naming the position
// when the bytes are not a well-formed EventRecord for that position. The returned pointer
// aliases `record.bytes`.
Result<const fb::EventRecord*> decode_record(const StoredRecord& record);

// Encodes a stored record (the value of key `position` in the events family). Deterministic:
// the same arguments always give the same bytes.
std::string encode_record(uint64_t position, Micros recorded_at, const EventIdBytes& event_id,
                          std::string_view actor, const Hash& prev_hash, const fb::EventT& event);

// SHA-256 of an event's content (occurred_at and body) packed alone: what an identical retry
// of an event_id is recognised by.
Hash event_content_hash(const fb::EventT& event);

// The 32 bytes of a Hash256 / 16 bytes of an EventId as arrays.
Hash hash_of(const fb::Hash256& hash);

}  // namespace orgledger
