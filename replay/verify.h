// Hash-chain verification (docs/format.md "Hash chain").
#pragma once

#include <cstdint>
#include <limits>

#include "projections/sha256.h"
#include "projections/status.h"
#include "replay/record_source.h"

namespace orgledger {

struct VerifyReport {
  // OK, or DataLoss (CorruptRecord / HashChainBroken) whose message names the position.
  Status status;
  // The first position whose stored bytes do not belong to the chain; 0 when the chain holds.
  uint64_t first_bad_position = 0;
  uint64_t from = 0;
  uint64_t to = 0;       // last position checked
  uint64_t records = 0;  // records checked
  Hash last_hash{};      // SHA-256 of the stored bytes at `to`
};

// Walks records `from`..`to` (clipped to the head): each must decode, carry its own position,
// and carry prev_hash = SHA-256 of the stored bytes of the record before it (zeros before
// position 1); when the range reaches the head, the last record must hash to the head hash.
// A broken link between n-1 and n is blamed on the record whose bytes changed: n-1 when n's
// own hash still matches what n+1 (or the head) recorded, else n.
//
// With `threads` > 1 the range is cut into that many consecutive parts, verified at once (each
// part checks the link into its first record and out of its last, so the parts join up); the
// report is the one a single thread gives. The source's scan and head must then be safe to call
// from several threads at once (the Store's are; a client connection's are not).
VerifyReport verify_chain(const RecordSource& source, uint64_t from = 1,
                          uint64_t to = std::numeric_limits<uint64_t>::max(), unsigned threads = 1);

}  // namespace orgledger
