#include "replay/verify.h"

#include <algorithm>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "replay/record.h"

namespace orgledger {
namespace {

VerifyReport failed(VerifyReport report, uint64_t position, Status status) {
  report.first_bad_position = position;
  report.status = std::move(status);
  return report;
}

Status chain_broken(uint64_t position, std::string_view why) {
  return Status(
      Code::kDataLoss, Reason::kHashChainBroken,
      "hash chain broken at position " + std::to_string(position) + ": " + std::string(why));
}

// One walk over from..to. `link_out_broken` says that its failure came from the link out of
// `to` (record to+1 does not carry the hash of record `to`), which a walk over a longer range
// would have seen while counting record to+1.
VerifyReport verify_part(const RecordSource& source, uint64_t from, uint64_t to,
                         bool* link_out_broken = nullptr);

}  // namespace

VerifyReport verify_chain(const RecordSource& source, uint64_t from, uint64_t to,
                          unsigned threads) {
  if (from == 0) from = 1;
  if (threads <= 1) return verify_part(source, from, to);
  auto head = source.head();
  if (!head.is_ok()) return verify_part(source, from, to);  // reports the error
  to = std::min(to, head->position);
  if (from > to || to - from + 1 < threads) return verify_part(source, from, to);
  // Consecutive parts; each finds the faults inside it exactly as one walk would, so the first
  // part that fails holds the first bad position.
  const uint64_t size = (to - from + 1) / threads;
  std::vector<VerifyReport> parts(threads);
  std::vector<char> links_out_broken(threads, 0);
  std::vector<std::thread> workers;
  for (unsigned part = 0; part < threads; ++part) {
    const uint64_t part_from = from + part * size;
    const uint64_t part_to = part + 1 == threads ? to : part_from + size - 1;
    workers.emplace_back([&, part, part_from, part_to] {
      bool link_out_broken = false;
      parts[part] = verify_part(source, part_from, part_to, &link_out_broken);
      links_out_broken[part] = link_out_broken;
    });
  }
  for (std::thread& worker : workers) worker.join();
  VerifyReport report;
  report.from = from;
  for (size_t index = 0; index < parts.size(); ++index) {
    const VerifyReport& part = parts[index];
    if (part.records > 0) {
      report.to = part.to;
      report.last_hash = part.last_hash;
      report.records += part.records;
    }
    if (part.status.is_ok()) continue;
    report.status = part.status;
    report.first_bad_position = part.first_bad_position;
    // A part's last record blamed through the broken link into the next part's first record:
    // one walk counts that first record before it blames, and so did the next part.
    if (links_out_broken[index] && index + 1 < parts.size() && parts[index + 1].records > 0) {
      report.to = parts[index + 1].to;
      report.last_hash = parts[index + 1].last_hash;
      report.records += parts[index + 1].records;
    }
    return report;
  }
  return report;
}

namespace {

VerifyReport verify_part(const RecordSource& source, uint64_t from, uint64_t to,
                         bool* link_out_broken) {
  VerifyReport report;
  if (from == 0) from = 1;
  report.from = from;
  auto head = source.head();
  if (!head.is_ok()) return failed(report, 0, head.status());
  if (to > head->position) to = head->position;
  if (from > to) return report;  // nothing to check
  // The link out of `to` is checked too: record to+1 carries the hash of record `to`.
  const uint64_t scan_to = to < head->position ? to + 1 : to;

  // The hash the first record of the range must carry as prev_hash.
  Hash expected_prev{};
  if (from > 1) {
    std::optional<Hash> previous;
    Status read = source.scan(from - 1, from - 1, [&](const StoredRecord& stored) {
      previous = sha256(stored.bytes);
      return ScanOutcome::kStop;
    });
    if (!read.is_ok()) return failed(report, from - 1, read);
    if (!previous) {
      return failed(report, from - 1,
                    Status(Code::kDataLoss, Reason::kCorruptRecord,
                           "record at position " + std::to_string(from - 1) + " is missing"));
    }
    expected_prev = *previous;
  }

  // A link n-1 -> n that failed; blamed once record n+1 (or the head hash) shows whether n's own
  // bytes are intact: if they are, n-1 changed; otherwise n did.
  struct PendingBreak {
    uint64_t position;  // n
    Hash hash;          // SHA-256 of record n's stored bytes
  };
  std::optional<PendingBreak> pending;
  uint64_t expected_position = from;
  uint64_t bad_position = 0;
  Status failure;

  auto blame = [&](const PendingBreak& broken, bool own_bytes_confirmed) {
    bad_position = own_bytes_confirmed ? broken.position - 1 : broken.position;
    failure = chain_broken(
        bad_position, own_bytes_confirmed
                          ? "its stored bytes do not hash to the prev_hash recorded by position " +
                                std::to_string(broken.position)
                          : "its prev_hash does not match the record before it");
  };

  Status scanned = source.scan(from, scan_to, [&](const StoredRecord& stored) {
    if (stored.position != expected_position) {
      bad_position = expected_position;
      failure = Status(Code::kDataLoss, Reason::kCorruptRecord,
                       "record at position " + std::to_string(expected_position) + " is missing");
      return ScanOutcome::kStop;
    }
    const Hash own_hash = sha256(stored.bytes);
    auto record = decode_record(stored);
    if (!record.is_ok()) {
      bad_position = stored.position;
      failure = record.status();
      return ScanOutcome::kStop;
    }
    const Hash carried_prev = hash_of(*(*record)->prev_hash());
    if (pending) {
      blame(*pending, carried_prev == pending->hash);
      return ScanOutcome::kStop;
    }
    if (carried_prev != expected_prev) pending = PendingBreak{stored.position, own_hash};
    expected_prev = own_hash;
    if (stored.position <= to) {
      report.to = stored.position;
      report.last_hash = own_hash;
      ++report.records;
    }
    ++expected_position;
    return ScanOutcome::kContinue;
  });
  if (!scanned.is_ok()) return failed(report, expected_position, scanned);
  if (bad_position == 0 && expected_position <= scan_to) {
    bad_position = expected_position;
    failure = Status(Code::kDataLoss, Reason::kCorruptRecord,
                     "record at position " + std::to_string(expected_position) + " is missing");
  }
  if (bad_position == 0 && pending) {
    // The break is on the last record scanned: the record after it, or the head hash, decides.
    std::optional<Hash> next_prev;
    if (pending->position == head->position) {
      next_prev = head->hash;
    } else {
      // Unreadable here means "cannot confirm", which blames the later record: reported either
      // way, so the read error itself adds nothing.
      (void)source.scan(pending->position + 1, pending->position + 1,
                        [&](const StoredRecord& stored) {
                          if (auto next = decode_record(stored); next.is_ok()) {
                            next_prev = hash_of(*(*next)->prev_hash());
                          }
                          return ScanOutcome::kStop;
                        });
    }
    blame(*pending, next_prev && *next_prev == pending->hash);
    if (link_out_broken != nullptr) *link_out_broken = pending->position > to;
  }
  // A fault found only past `to` (in the record after the range) does not concern this range.
  if (bad_position != 0 && bad_position <= to) return failed(report, bad_position, failure);
  if (to == head->position && report.last_hash != head->hash) {
    return failed(report, to,
                  chain_broken(to, "its stored bytes do not hash to the head hash in meta"));
  }
  return report;
}

}  // namespace
}  // namespace orgledger
