// Decoding stored records (docs/format.md): every stored value is checked with the FlatBuffers
// Verifier before any field is read.
#pragma once

#include "projections/status.h"
#include "replay/record_source.h"
#include "schema/events_generated.h"

namespace orgledger {

// Returns the verified root of `record.bytes`, or DataLoss/CorruptRecord naming the position
// when the bytes are not a well-formed EventRecord for that position. The returned pointer
// aliases `record.bytes`.
Result<const fb::EventRecord*> decode_record(const StoredRecord& record);

// The 32 bytes of a Hash256 / 16 bytes of an EventId as arrays.
Hash hash_of(const fb::Hash256& hash);

}  // namespace orgledger
