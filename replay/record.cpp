#include "replay/record.h"

#include <algorithm>
#include <string>

namespace orgledger {

Result<const fb::EventRecord*> decode_record(const StoredRecord& record) {
  auto corrupt = [&](std::string_view why) {
    return Status(Code::kDataLoss, Reason::kCorruptRecord,
                  "record at position " + std::to_string(record.position) + " " + std::string(why));
  };
  const auto* data = reinterpret_cast<const uint8_t*>(record.bytes.data());
  flatbuffers::Verifier verifier(data, record.bytes.size());
  if (!fb::EventRecordBufferHasIdentifier(data) || !fb::VerifyEventRecordBuffer(verifier)) {
    return corrupt("is not a well-formed EventRecord");
  }
  const fb::EventRecord* root = fb::GetEventRecord(data);
  if (root->position() != record.position) {
    return corrupt("carries position " + std::to_string(root->position()));
  }
  if (root->event() == nullptr || root->event_id() == nullptr || root->prev_hash() == nullptr) {
    return corrupt("lacks its event, event_id or prev_hash");
  }
  return root;
}

Hash hash_of(const fb::Hash256& hash) {
  Hash bytes{};
  std::copy(hash.bytes()->begin(), hash.bytes()->end(), bytes.begin());
  return bytes;
}

}  // namespace orgledger
