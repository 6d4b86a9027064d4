#include "replay/record.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <tuple>

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
  // The verifier lets a union type through without its table; every stored event has both.
  if (root->event()->body() == nullptr) return corrupt("has an event without its body");
  return root;
}

namespace {

// A builder per thread, cleared for each use: it keeps its buffer instead of allocating one for
// every record.
flatbuffers::FlatBufferBuilder& reused_builder() {
  thread_local flatbuffers::FlatBufferBuilder builder(1024);
  builder.Clear();
  return builder;
}

// `event` packed alone in the thread's builder: valid until the builder's next use.
std::string_view packed_in_builder(const fb::EventT& event) {
  flatbuffers::FlatBufferBuilder& builder = reused_builder();
  builder.Finish(fb::Event::Pack(builder, &event));
  return std::string_view(reinterpret_cast<const char*>(builder.GetBufferPointer()),
                          builder.GetSize());
}

}  // namespace

PackedEvent pack_event(const fb::EventT& event) {
  PackedEvent packed;
  packed.bytes = packed_in_builder(event);
  packed.content_hash = sha256(packed.bytes);
  return packed;
}

Hash event_content_hash(const fb::EventT& event) { return sha256(packed_in_builder(event)); }

std::string encode_record(uint64_t position, Micros recorded_at, const EventIdBytes& event_id,
                          std::string_view actor, const Hash& prev_hash,
                          std::string_view packed_event) {
  flatbuffers::FlatBufferBuilder& builder = reused_builder();
  // The packed event is a finished buffer: its root offset, then the Event with everything it
  // refers to. FlatBuffers' offsets are relative, and a builder aligns every object relative to
  // the end of its buffer, so the bytes after the root offset are a valid subtree wherever they
  // land with their end at a multiple of 8 (the largest alignment) from the new buffer's end.
  // The Event table starts `root` bytes after the packed buffer's start.
  const auto root = flatbuffers::ReadScalar<flatbuffers::uoffset_t>(packed_event.data());
  builder.Align(sizeof(flatbuffers::largest_scalar_t));
  builder.PushBytes(
      reinterpret_cast<const uint8_t*>(packed_event.data()) + sizeof(flatbuffers::uoffset_t),
      packed_event.size() - sizeof(flatbuffers::uoffset_t));
  const flatbuffers::Offset<fb::Event> event_offset(static_cast<flatbuffers::uoffset_t>(
      builder.GetSize() + sizeof(flatbuffers::uoffset_t) - root));
  const auto actor_offset = builder.CreateString(actor.data(), actor.size());
  const fb::EventId id(flatbuffers::span<const uint8_t, 16>(event_id.data(), 16));
  const fb::Hash256 prev(flatbuffers::span<const uint8_t, 32>(prev_hash.data(), 32));
  fb::EventRecordBuilder record(builder);
  record.add_position(position);
  record.add_recorded_at(recorded_at);
  record.add_event_id(&id);
  record.add_actor(actor_offset);
  record.add_prev_hash(&prev);
  record.add_event(event_offset);
  builder.Finish(record.Finish(), fb::EventRecordIdentifier());
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

std::string encode_record(uint64_t position, Micros recorded_at, const EventIdBytes& event_id,
                          std::string_view actor, const Hash& prev_hash, const fb::EventT& event) {
  const std::string packed(packed_in_builder(event));  // the builder is reused below
  return encode_record(position, recorded_at, event_id, actor, prev_hash, packed);
}

void set_prev_hash(std::string& record_bytes, const Hash& prev_hash) {
  // A struct lies in its table, fixed-size: the field's 32 bytes are at a fixed place.
  static_assert(sizeof(fb::Hash256) == std::tuple_size_v<Hash>);
  const fb::Hash256* prev = fb::GetEventRecord(record_bytes.data())->prev_hash();
  const auto at = static_cast<size_t>(reinterpret_cast<const char*>(prev) - record_bytes.data());
  std::memcpy(record_bytes.data() + at, prev_hash.data(), prev_hash.size());
}

Hash hash_of(const fb::Hash256& hash) {
  Hash bytes{};
  std::copy(hash.bytes()->begin(), hash.bytes()->end(), bytes.begin());
  return bytes;
}

}  // namespace orgledger
