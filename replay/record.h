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

// An event's content (occurred_at and body) packed alone: a finished FlatBuffer whose root is
// the Event. The same content always packs to the same bytes; their SHA-256 is the content hash,
// what an identical retry of an event_id is recognised by.
struct PackedEvent {
  std::string bytes;
  Hash content_hash{};
};
PackedEvent pack_event(const fb::EventT& event);
Hash event_content_hash(const fb::EventT& event);  // pack_event(event).content_hash

// Encodes a stored record (the value of key `position` in the events family) around an event
// packed by pack_event, whose bytes it copies in whole instead of packing the event again.
// Deterministic: the same arguments always give the same bytes, whichever overload.
std::string encode_record(uint64_t position, Micros recorded_at, const EventIdBytes& event_id,
                          std::string_view actor, const Hash& prev_hash,
                          std::string_view packed_event);
std::string encode_record(uint64_t position, Micros recorded_at, const EventIdBytes& event_id,
                          std::string_view actor, const Hash& prev_hash, const fb::EventT& event);

// Sets the prev_hash of a record encoded by encode_record, in place: the same bytes as encoding
// it with that prev_hash. The engine chains its records where it writes them
// (Engine::write_group), after they were validated with any prev_hash.
void set_prev_hash(std::string& record_bytes, const Hash& prev_hash);

// The 32 bytes of a Hash256 / 16 bytes of an EventId as arrays.
Hash hash_of(const fb::Hash256& hash);

}  // namespace orgledger
