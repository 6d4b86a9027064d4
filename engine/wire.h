// The wire protocol's framing and message building, shared by the server and the client
// (docs/protocol.md; schema/protocol.fbs).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "projections/status.h"
#include "replay/record_source.h"
#include "replay/verify.h"
#include "schema/protocol_generated.h"

namespace orgledger::wire {

inline constexpr uint32_t kProtocolVersion = 1;

// A stored record copied out of the store, to be sent.
struct StoredRecordCopy {
  uint64_t position = 0;
  std::string bytes;
};
inline constexpr size_t kFrameHeaderBytes = 4;
inline constexpr size_t kDefaultMaxFrameBytes = 16 * 1024 * 1024;

// Little-endian frame length.
uint32_t decode_length(const uint8_t header[kFrameHeaderBytes]);
// The frame of a finished FlatBuffer: 4-byte little-endian length, then the bytes.
std::string frame(const flatbuffers::FlatBufferBuilder& builder);

// Verifies an inbound buffer as a Request / Response (FlatBuffers Verifier and the "OLP1"
// identifier). Returns the root or InvalidArgument/InvalidInput saying why it is refused.
Result<const Request*> verify_request(std::string_view bytes);
Result<const Response*> verify_response(std::string_view bytes);

// The frame of a request of `type` whose body was built in `builder`.
template <typename Body>
std::string request_frame(flatbuffers::FlatBufferBuilder& builder, uint64_t request_id,
                          RequestBody type, flatbuffers::Offset<Body> body) {
  RequestBuilder request(builder);
  request.add_request_id(request_id);
  request.add_body_type(type);
  request.add_body(body.Union());
  builder.Finish(request.Finish(), RequestIdentifier());
  return frame(builder);
}

// Builders of response frames.
std::string error_frame(uint64_t request_id, const Status& status,
                        std::optional<uint32_t> failed_index = std::nullopt);
std::string document_frame(uint64_t request_id, std::string_view text);

// A response frame on its way out: its own bytes, then, for a document answered from the
// server's cache, the rest of a frame shared with the cache instead of copied.
struct OutFrame {
  OutFrame(std::string bytes) : own(std::move(bytes)) {}  // NOLINT: any frame is an OutFrame
  OutFrame(std::string bytes, std::shared_ptr<const std::string> shared_frame, size_t from)
      : own(std::move(bytes)), shared(std::move(shared_frame)), shared_from(from) {}
  std::string own;
  std::shared_ptr<const std::string> shared;  // null: `own` is the whole frame
  size_t shared_from = 0;
  std::string_view shared_part() const {
    return shared ? std::string_view(*shared).substr(shared_from) : std::string_view();
  }
};

// A document response built once and answered to many requests (a bill is a few megabytes):
// each answer copies the frame's first bytes, up to and with the request id, and shares the
// rest.
class SharedDocument {
 public:
  explicit SharedDocument(std::string_view text);
  OutFrame frame_for(uint64_t request_id) const;
  size_t size() const { return frame_->size(); }

 private:
  std::shared_ptr<const std::string> frame_;  // answering request id 0, the id written out
  size_t request_id_at_ = 0;                  // where the id's 8 bytes lie in `frame_`
};
std::string append_frame(uint64_t request_id, const AppendOutcome& outcome);
std::string records_frame(uint64_t request_id, const std::vector<StoredRecordCopy>& records,
                          uint64_t head_position);

std::string hello_frame(uint64_t request_id, uint64_t head);
std::string authenticate_frame(uint64_t request_id, std::string_view principal,
                               std::string_view role);
std::string digest_frame(uint64_t request_id, uint64_t head, const Hash& state_digest);
std::string verify_frame(uint64_t request_id, const VerifyReport& report);
flatbuffers::Offset<Error> build_error(flatbuffers::FlatBufferBuilder& builder,
                                       const Status& status, std::optional<uint32_t> failed_index);

// The Status an Error table carries.
Status status_of(const Error& error);

// The canonical code number on the wire: gRPC's numbering (docs/protocol.md).
uint8_t code_number(Code code);
Code code_of_number(uint8_t number);

}  // namespace orgledger::wire
