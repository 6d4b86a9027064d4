// An in-memory RecordSource built the way the engine builds its log (encode, chain, validate,
// apply), for property tests that need thousands of histories without a disk.
#pragma once

#include <string>
#include <vector>

#include "projections/registry.h"
#include "replay/record_source.h"

namespace orgledger::testing {

class MemoryLog final : public RecordSource {
 public:
  // Validates `event` against the live state; when valid, stores a chained record and applies it.
  Status append(const fb::EventT& event, Micros recorded_at);

  Result<Head> head() const override { return head_; }
  Status scan(uint64_t from, uint64_t to, const RecordVisitor& visit) const override;

  const Registry& state() const { return state_; }
  const std::vector<std::string>& records() const { return records_; }
  const std::vector<Micros>& recorded_at() const { return recorded_at_; }

 private:
  Registry state_;
  std::vector<std::string> records_;  // records_[i] is position i + 1
  std::vector<Micros> recorded_at_;
  Head head_;
};

}  // namespace orgledger::testing
