// Progress on a terminal for long reads (replay, verify): a RecordSource decorator that reports
// to stderr every so many records, only when stderr is a terminal and the range is large.
// Single-threaded; `inner` must outlive it.
#pragma once

#include <atomic>
#include <string>

#include "replay/record_source.h"

namespace orgledger::cli {

class ProgressSource final : public RecordSource {
 public:
  ProgressSource(const RecordSource& inner, std::string label);
  ~ProgressSource() override;

  Result<Head> head() const override { return inner_.head(); }
  Status scan(uint64_t from, uint64_t to, const RecordVisitor& visit) const override;
  Status scan_to_copy(uint64_t from, uint64_t to, const RecordVisitor& visit) const override;

 private:
  // Visits through `visit`, printing the position now and then.
  RecordVisitor reporting(const RecordVisitor& visit) const;

  const RecordSource& inner_;
  std::string label_;
  bool enabled_ = false;
  mutable std::atomic<bool> printed_ = false;  // scans may run on several threads
};

}  // namespace orgledger::cli
