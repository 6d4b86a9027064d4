// The seam between history and its readers: anything that can hand out stored records in
// position order (the embedded RocksDB store today, a replicated log later). `replay` folds and
// verifies any RecordSource and never includes `engine`.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "projections/sha256.h"
#include "projections/status.h"

namespace orgledger {

// The last stored record: its position (0 for an empty log) and the SHA-256 of its stored bytes
// (32 zero bytes for an empty log).
struct Head {
  uint64_t position = 0;
  Hash hash{};
};

// One stored record as the source holds it. `bytes` is valid only during the visit call, and
// 8-byte aligned (FlatBuffers reads scalars in place) unless it comes from scan_to_copy.
struct StoredRecord {
  uint64_t position = 0;
  std::string_view bytes;
};

enum class ScanOutcome { kContinue, kStop };

using RecordVisitor = std::function<ScanOutcome(const StoredRecord&)>;

class RecordSource {
 public:
  virtual ~RecordSource() = default;

  // The head as the source last recorded it. DataLoss when that record is unreadable.
  virtual Result<Head> head() const = 0;

  // Visits every stored record with from <= position <= to, in position order, until the
  // visitor says stop. Positions are passed as stored (keys), so a reader can detect gaps.
  // Returns the source's first read error; OK at the end of the range.
  virtual Status scan(uint64_t from, uint64_t to, const RecordVisitor& visit) const = 0;

  // As scan, for a visitor that copies each record out before reading it (a fold's reader):
  // the bytes may start at any address, which spares a source the copy that aligns them.
  virtual Status scan_to_copy(uint64_t from, uint64_t to, const RecordVisitor& visit) const {
    return scan(from, to, visit);
  }
};

}  // namespace orgledger
