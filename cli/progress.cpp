#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

namespace orgledger::cli {
namespace {
constexpr uint64_t kMinimumRecords = 200'000;  // smaller ranges finish before anyone looks
constexpr uint64_t kEvery = 100'000;
}  // namespace

ProgressSource::ProgressSource(const RecordSource& inner, std::string label)
    : inner_(inner), label_(std::move(label)) {
  auto head = inner_.head();
  enabled_ = isatty(STDERR_FILENO) == 1 && head.is_ok() && head->position >= kMinimumRecords;
}

ProgressSource::~ProgressSource() {
  if (printed_) std::fputs("\r\033[K", stderr);  // clear the progress line
}

RecordVisitor ProgressSource::reporting(const RecordVisitor& visit) const {
  const uint64_t head = inner_.head()->position;
  return [this, head, &visit](const StoredRecord& record) {
    if (record.position % kEvery == 0) {
      std::fprintf(stderr, "\r%s: position %llu of %llu", label_.c_str(),
                   static_cast<unsigned long long>(record.position),
                   static_cast<unsigned long long>(head));
      printed_ = true;
    }
    return visit(record);
  };
}

Status ProgressSource::scan(uint64_t from, uint64_t to, const RecordVisitor& visit) const {
  return enabled_ ? inner_.scan(from, to, reporting(visit)) : inner_.scan(from, to, visit);
}

Status ProgressSource::scan_to_copy(uint64_t from, uint64_t to, const RecordVisitor& visit) const {
  return enabled_ ? inner_.scan_to_copy(from, to, reporting(visit))
                  : inner_.scan_to_copy(from, to, visit);
}

}  // namespace orgledger::cli
