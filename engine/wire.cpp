#include "engine/wire.h"

#include <stdexcept>

#include "replay/verify.h"

namespace orgledger::wire {
namespace {

std::string bytes_of(const flatbuffers::FlatBufferBuilder& builder) {
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

std::string finish(flatbuffers::FlatBufferBuilder& builder, uint64_t request_id, ResponseBody type,
                   flatbuffers::Offset<void> body) {
  ResponseBuilder response(builder);
  response.add_request_id(request_id);
  response.add_body_type(type);
  response.add_body(body);
  builder.Finish(response.Finish(), RequestIdentifier());
  return frame(builder);
}

template <typename Root>
Result<const Root*> verify(std::string_view bytes, bool (*verify_root)(flatbuffers::Verifier&),
                           std::string_view what) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  if (bytes.size() < 8 || !flatbuffers::BufferHasIdentifier(data, RequestIdentifier())) {
    return Status(Code::kInvalidArgument, Reason::kInvalidInput,
                  std::string(what) + " frame lacks the \"OLP1\" identifier");
  }
  flatbuffers::Verifier verifier(data, bytes.size(), /*max_depth=*/64, /*max_tables=*/4'000'000);
  if (!verify_root(verifier)) {
    return Status(Code::kInvalidArgument, Reason::kInvalidInput,
                  std::string(what) + " frame fails the FlatBuffers verifier");
  }
  const Root* root = flatbuffers::GetRoot<Root>(data);
  // The verifier accepts a union whose type is set and whose table is absent: the server's
  // handlers and the client read the table of the type they are told, so such a frame is
  // refused here, like one without a type (NONE).
  if (static_cast<int>(root->body_type()) == 0 || root->body() == nullptr) {
    return Status(Code::kInvalidArgument, Reason::kInvalidInput,
                  std::string(what) + " has no body or an unknown " + std::string(what) + " type");
  }
  return root;
}

bool verify_request_root(flatbuffers::Verifier& verifier) {
  return verifier.VerifyBuffer<Request>(RequestIdentifier());
}
bool verify_response_root(flatbuffers::Verifier& verifier) {
  return verifier.VerifyBuffer<Response>(RequestIdentifier());
}

}  // namespace

uint32_t decode_length(const uint8_t header[kFrameHeaderBytes]) {
  return static_cast<uint32_t>(header[0]) | static_cast<uint32_t>(header[1]) << 8 |
         static_cast<uint32_t>(header[2]) << 16 | static_cast<uint32_t>(header[3]) << 24;
}

std::string frame(const flatbuffers::FlatBufferBuilder& builder) {
  const uint32_t size = builder.GetSize();
  std::string out;
  out.reserve(kFrameHeaderBytes + size);
  for (int shift = 0; shift < 32; shift += 8) out += static_cast<char>((size >> shift) & 0xff);
  out += bytes_of(builder);
  return out;
}

Result<const Request*> verify_request(std::string_view bytes) {
  return verify<Request>(bytes, verify_request_root, "request");
}

Result<const Response*> verify_response(std::string_view bytes) {
  return verify<Response>(bytes, verify_response_root, "response");
}

uint8_t code_number(Code code) {
  switch (code) {
    case Code::kOk:
      return 0;
    case Code::kInvalidArgument:
      return 3;
    case Code::kNotFound:
      return 5;
    case Code::kAlreadyExists:
      return 6;
    case Code::kPermissionDenied:
      return 7;
    case Code::kResourceExhausted:
      return 8;
    case Code::kFailedPrecondition:
      return 9;
    case Code::kAborted:
      return 10;
    case Code::kInternal:
      return 13;
    case Code::kUnavailable:
      return 14;
    case Code::kDataLoss:
      return 15;
    case Code::kUnauthenticated:
      return 16;
  }
  return 13;
}

Code code_of_number(uint8_t number) {
  for (Code code : {Code::kOk, Code::kInvalidArgument, Code::kNotFound, Code::kAlreadyExists,
                    Code::kPermissionDenied, Code::kResourceExhausted, Code::kFailedPrecondition,
                    Code::kAborted, Code::kInternal, Code::kUnavailable, Code::kDataLoss,
                    Code::kUnauthenticated}) {
    if (code_number(code) == number) return code;
  }
  return Code::kInternal;
}

flatbuffers::Offset<Error> build_error(flatbuffers::FlatBufferBuilder& builder,
                                       const Status& status, std::optional<uint32_t> failed_index) {
  const auto code_name = builder.CreateString(::orgledger::code_name(status.code()));
  const auto reason = builder.CreateString(reason_name(status.reason()));
  const auto detail = builder.CreateString(status.detail());
  const auto message = builder.CreateString(status.message());
  ErrorBuilder error(builder);
  error.add_code(code_number(status.code()));
  error.add_code_name(code_name);
  error.add_reason(reason);
  error.add_detail(detail);
  error.add_message(message);
  if (failed_index) error.add_failed_index(*failed_index);
  return error.Finish();
}

std::string error_frame(uint64_t request_id, const Status& status,
                        std::optional<uint32_t> failed_index) {
  flatbuffers::FlatBufferBuilder builder(256);
  const auto body = build_error(builder, status, failed_index);
  return finish(builder, request_id, ResponseBody::Error, body.Union());
}

std::string document_frame(uint64_t request_id, std::string_view text) {
  flatbuffers::FlatBufferBuilder builder(text.size() + 64);
  const auto body = CreateDocumentResponse(builder, builder.CreateString(text.data(), text.size()));
  return finish(builder, request_id, ResponseBody::DocumentResponse, body.Union());
}

SharedDocument::SharedDocument(std::string_view text) {
  flatbuffers::FlatBufferBuilder builder(text.size() + 64);
  // Written even as 0, its default, so that each answer can put its own id in its place.
  builder.ForceDefaults(true);
  const auto body = CreateDocumentResponse(builder, builder.CreateString(text.data(), text.size()));
  auto frame = std::make_shared<std::string>(
      finish(builder, 0, ResponseBody::DocumentResponse, body.Union()));
  const auto* root = flatbuffers::GetRoot<flatbuffers::Table>(frame->data() + kFrameHeaderBytes);
  const uint8_t* request_id = root->GetAddressOf(Response::VT_REQUEST_ID);
  if (request_id == nullptr) throw std::logic_error("a forced default was not written");
  request_id_at_ =
      static_cast<size_t>(request_id - reinterpret_cast<const uint8_t*>(frame->data()));
  frame_ = std::move(frame);
}

OutFrame SharedDocument::frame_for(uint64_t request_id) const {
  const size_t own_bytes = request_id_at_ + sizeof(uint64_t);
  std::string own(frame_->data(), own_bytes);
  flatbuffers::WriteScalar(own.data() + request_id_at_, request_id);
  return OutFrame(std::move(own), frame_, own_bytes);
}

std::string append_frame(uint64_t request_id, const AppendOutcome& outcome) {
  if (!outcome.status.is_ok()) {
    return error_frame(request_id, outcome.status,
                       outcome.failed_index == AppendOutcome::kWholeRequest
                           ? std::nullopt
                           : std::optional<uint32_t>(static_cast<uint32_t>(outcome.failed_index)));
  }
  flatbuffers::FlatBufferBuilder builder(64 + outcome.positions.size() * 8);
  const auto positions = builder.CreateVector(outcome.positions);
  const fb::Hash256 head_hash(flatbuffers::span<const uint8_t, 32>(outcome.head.hash.data(), 32));
  AppendResponseBuilder response(builder);
  response.add_positions(positions);
  response.add_stored(static_cast<uint32_t>(outcome.stored));
  response.add_head_position(outcome.head.position);
  response.add_head_hash(&head_hash);
  const auto body = response.Finish();
  return finish(builder, request_id, ResponseBody::AppendResponse, body.Union());
}

std::string records_frame(uint64_t request_id, const std::vector<StoredRecordCopy>& records,
                          uint64_t head_position) {
  size_t bytes = 64;
  for (const StoredRecordCopy& record : records) bytes += record.bytes.size() + 32;
  flatbuffers::FlatBufferBuilder builder(bytes);
  std::vector<flatbuffers::Offset<Record>> offsets;
  offsets.reserve(records.size());
  for (const StoredRecordCopy& record : records) {
    // Stored records are FlatBuffers themselves: keep them 8-byte aligned inside the frame.
    builder.ForceVectorAlignment(record.bytes.size(), sizeof(uint8_t), 8);
    const auto data = builder.CreateVector(reinterpret_cast<const uint8_t*>(record.bytes.data()),
                                           record.bytes.size());
    offsets.push_back(CreateRecord(builder, record.position, data));
  }
  const auto body = CreateRecordsResponse(builder, builder.CreateVector(offsets), head_position);
  return finish(builder, request_id, ResponseBody::RecordsResponse, body.Union());
}

std::string verify_frame(uint64_t request_id, const VerifyReport& report) {
  flatbuffers::FlatBufferBuilder builder(256);
  flatbuffers::Offset<Error> error;
  if (!report.status.is_ok()) error = build_error(builder, report.status, std::nullopt);
  const fb::Hash256 last(flatbuffers::span<const uint8_t, 32>(report.last_hash.data(), 32));
  VerifyResponseBuilder response(builder);
  response.add_ok(report.status.is_ok());
  response.add_from(report.from);
  response.add_to(report.to);
  response.add_records(report.records);
  response.add_first_bad_position(report.first_bad_position);
  response.add_last_hash(&last);
  if (!report.status.is_ok()) response.add_error(error);
  const auto body = response.Finish();
  return finish(builder, request_id, ResponseBody::VerifyResponse, body.Union());
}

std::string hello_frame(uint64_t request_id, uint64_t head) {
  flatbuffers::FlatBufferBuilder builder(128);
  const auto body =
      CreateHelloResponse(builder, builder.CreateString("orgledger 0.1.0"), kProtocolVersion, head);
  return finish(builder, request_id, ResponseBody::HelloResponse, body.Union());
}

std::string authenticate_frame(uint64_t request_id, std::string_view principal,
                               std::string_view role) {
  flatbuffers::FlatBufferBuilder builder(128);
  const auto body = CreateAuthenticateResponse(builder, builder.CreateString(principal),
                                               builder.CreateString(role));
  return finish(builder, request_id, ResponseBody::AuthenticateResponse, body.Union());
}

std::string digest_frame(uint64_t request_id, uint64_t head, const Hash& state_digest) {
  flatbuffers::FlatBufferBuilder builder(128);
  const fb::Hash256 hash(flatbuffers::span<const uint8_t, 32>(state_digest.data(), 32));
  const auto body = CreateDigestResponse(builder, head, &hash);
  return finish(builder, request_id, ResponseBody::DigestResponse, body.Union());
}

Status status_of(const Error& error) {
  const Code code = code_of_number(error.code());
  const std::string_view reason_text = error.reason() ? error.reason()->string_view() : "";
  Reason reason = Reason::kNone;
  for (uint16_t value = 0; value < 256; ++value) {
    if (reason_name(static_cast<Reason>(value)) == reason_text && !reason_text.empty()) {
      reason = static_cast<Reason>(value);
      break;
    }
  }
  return Status(code == Code::kOk ? Code::kInternal : code, reason,
                error.message() ? error.message()->str() : "",
                error.detail() ? error.detail()->str() : "");
}

}  // namespace orgledger::wire
