#include "engine/client.h"

#include <algorithm>
#include <array>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cstring>
#include <optional>
#include <vector>

#include "engine/password_hash.h"
#include "engine/server.h"
#include "engine/transfer.h"
#include "replay/record.h"

namespace orgledger {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// What one read from the server takes at most.
constexpr size_t kReadBufferBytes = 16 * 1024;

Status unavailable(std::string message) {
  return Status(Code::kUnavailable, Reason::kNone, std::move(message));
}

std::vector<wire::StoredRecordCopy> records_of(const wire::RecordsResponse& response) {
  std::vector<wire::StoredRecordCopy> records;
  if (response.records() == nullptr) return records;
  for (const wire::Record* record : *response.records()) {
    records.push_back({record->position(),
                       record->bytes()
                           ? std::string(reinterpret_cast<const char*>(record->bytes()->data()),
                                         record->bytes()->size())
                           : std::string()});
  }
  return records;
}

const wire::Response* root_of(const std::string& bytes) {
  return flatbuffers::GetRoot<wire::Response>(bytes.data());
}

}  // namespace

// The connected socket as the reads and writes (TLS's included) see it. A blocking call fails
// with EINTR when a signal whose handler was set without SA_RESTART arrives while it waits (a
// profiler's or a fuzzer's timer, a terminal's resize), and Asio passes that up as
// error::interrupted. Nothing was transferred then, so the call is simply made again.
class ResumingSocket {
 public:
  using executor_type = tcp::socket::executor_type;
  using lowest_layer_type = tcp::socket::lowest_layer_type;

  explicit ResumingSocket(tcp::socket& socket) : socket_(&socket) {}
  executor_type get_executor() { return socket_->get_executor(); }
  lowest_layer_type& lowest_layer() { return socket_->lowest_layer(); }
  const lowest_layer_type& lowest_layer() const { return socket_->lowest_layer(); }

  template <typename Buffers>
  size_t read_some(const Buffers& buffers, boost::system::error_code& error) {
    return resumed([&] { return socket_->read_some(buffers, error); }, error);
  }
  template <typename Buffers>
  size_t write_some(const Buffers& buffers, boost::system::error_code& error) {
    return resumed([&] { return socket_->write_some(buffers, error); }, error);
  }

 private:
  // Makes the call that `transfer` makes until it is not interrupted.
  template <typename Transfer>
  static size_t resumed(const Transfer& transfer, const boost::system::error_code& error) {
    size_t transferred = 0;
    do {
      transferred = transfer();
    } while (error == asio::error::interrupted);
    return transferred;
  }

  tcp::socket* socket_;
};

struct Client::Impl {
  asio::io_context io;
  tcp::socket socket{io};
  ResumingSocket resuming{socket};
  std::optional<asio::ssl::context> tls_context;
  std::optional<asio::ssl::stream<ResumingSocket>> tls;
  // Why the connection is of no more use, once a read or a write failed part-way or the
  // answers fell out of step with the requests: every later call fails with it at once.
  std::string broken;
  // Bytes read from the server and not yet taken: [in_begin, in_end) of in. A read takes what
  // the socket has, up to the buffer, so a small answer costs one read, not one for its header
  // and one for its body, and answers that arrive together are read together.
  std::vector<char> in = std::vector<char>(kReadBufferBytes);
  size_t in_begin = 0;
  size_t in_end = 0;

  Status break_off(std::string why) {
    broken = std::move(why);
    return unavailable(broken);
  }

  template <typename Buffer>
  void read(Buffer buffer, boost::system::error_code& error) {
    if (tls) {
      asio::read(*tls, buffer, error);
    } else {
      asio::read(resuming, buffer, TransferWhole{}, error);
    }
  }
  // Reads until at least `bytes` (at most the buffer's size) are buffered.
  void fill(size_t bytes, boost::system::error_code& error) {
    if (in_end - in_begin >= bytes) return;
    std::memmove(in.data(), in.data() + in_begin, in_end - in_begin);
    in_end -= in_begin;
    in_begin = 0;
    while (in_end < bytes && !error) {
      const auto space = asio::buffer(in.data() + in_end, in.size() - in_end);
      in_end += tls ? tls->read_some(space, error) : resuming.read_some(space, error);
    }
  }

  template <typename Buffer>
  void write(Buffer buffer, boost::system::error_code& error) {
    if (tls) {
      asio::write(*tls, buffer, error);
    } else {
      asio::write(resuming, buffer, TransferWhole{}, error);
    }
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::connect(std::string_view host_port,
                                                const ClientOptions& options) {
  auto address = parse_host_port(host_port);
  if (!address.is_ok()) return address.status();
  auto impl = std::make_unique<Impl>();
  boost::system::error_code error;
  tcp::resolver resolver(impl->io);
  const auto endpoints = resolver.resolve(address->first, std::to_string(address->second), error);
  // An interrupted connect may still complete in the background: asio::connect closes the
  // socket and starts again on a fresh one.
  if (!error) {
    do {
      asio::connect(impl->socket, endpoints, error);
    } while (error == asio::error::interrupted);
  }
  if (error) {
    return unavailable("cannot connect to " + std::string(host_port) + ": " + error.message());
  }
  impl->socket.set_option(tcp::no_delay(true), error);
  if (!options.tls_ca_file.empty()) {
    impl->tls_context.emplace(asio::ssl::context::tls_client);
    impl->tls_context->set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    impl->tls_context->load_verify_file(options.tls_ca_file, error);
    if (error) {
      return Status(Code::kInvalidArgument, Reason::kInvalidInput,
                    "cannot load the CA file \"" + options.tls_ca_file + "\": " + error.message());
    }
    impl->tls.emplace(impl->resuming, *impl->tls_context);
    impl->tls->set_verify_mode(asio::ssl::verify_peer);
    // The certificate must name the host connected to (DNS name or IP address).
    impl->tls->set_verify_callback(asio::ssl::host_name_verification(address->first));
    if (!SSL_set_tlsext_host_name(impl->tls->native_handle(), address->first.c_str())) {
      return unavailable("cannot set the TLS server name");
    }
    impl->tls->handshake(asio::ssl::stream_base::client, error);
    if (error) {
      return unavailable("TLS handshake with " + std::string(host_port) +
                         " failed: " + error.message());
    }
  }
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Status Client::send(std::string_view frame) {
  if (!impl_->broken.empty()) return unavailable(impl_->broken);
  boost::system::error_code error;
  impl_->write(asio::buffer(frame.data(), frame.size()), error);
  if (error) return impl_->break_off("cannot send to the server: " + error.message());
  return Status::ok();
}

Result<std::string> Client::receive() {
  if (!impl_->broken.empty()) return unavailable(impl_->broken);
  boost::system::error_code error;
  impl_->fill(wire::kFrameHeaderBytes, error);
  if (error) return impl_->break_off("the server closed the connection: " + error.message());
  const uint32_t length =
      wire::decode_length(reinterpret_cast<const uint8_t*>(impl_->in.data() + impl_->in_begin));
  if (length == 0 || length > wire::kDefaultMaxFrameBytes * 4) {
    return impl_->break_off("the server sent a frame of " + std::to_string(length) + " bytes");
  }
  impl_->in_begin += wire::kFrameHeaderBytes;
  // What is buffered first, then the rest through a small buffer, appended: a body of
  // megabytes (a bill) is written once, where sizing the string first would have zeroed it all
  // before the read wrote it again.
  std::string body;
  body.reserve(length);
  const size_t buffered = std::min<size_t>(length, impl_->in_end - impl_->in_begin);
  body.append(impl_->in.data() + impl_->in_begin, buffered);
  impl_->in_begin += buffered;
  std::array<char, 64 * 1024> chunk;
  while (body.size() < length) {
    const size_t bytes = std::min(chunk.size(), length - body.size());
    impl_->read(asio::buffer(chunk.data(), bytes), error);
    if (error) return impl_->break_off("the server closed the connection: " + error.message());
    body.append(chunk.data(), bytes);
  }
  auto response = wire::verify_response(body);
  if (!response.is_ok()) return response.status();
  return body;
}

Result<std::string> Client::receive_answer_to(uint64_t request_id) {
  auto response = receive();
  if (!response.is_ok()) return response.status();
  const wire::Response* root = root_of(*response);
  // An error about the connection itself (too many connections, a frame the server could not
  // read) answers no request and carries id 0.
  const bool connection_error =
      root->request_id() == 0 && root->body_type() == wire::ResponseBody::Error;
  if (root->request_id() != request_id && !connection_error) {
    return impl_->break_off("the answer to request " + std::to_string(root->request_id()) +
                            " came while waiting for request " + std::to_string(request_id) +
                            ": the connection is out of step");
  }
  return response;
}

Result<std::string> Client::exchange(const std::string& frame) {
  ORGLEDGER_RETURN_IF_ERROR(send(frame));
  return receive_answer_to(
      flatbuffers::GetRoot<wire::Request>(frame.data() + wire::kFrameHeaderBytes)->request_id());
}

Result<std::string> Client::call(const std::string& frame) {
  auto response = exchange(frame);
  if (!response.is_ok()) return response.status();
  const wire::Response* root = root_of(*response);
  if (root->body_type() == wire::ResponseBody::Error) {
    return wire::status_of(*root->body_as_Error());
  }
  return response;
}

Result<std::string> Client::document(const std::string& frame) {
  auto response = call(frame);
  if (!response.is_ok()) return response.status();
  const wire::Response* root = root_of(*response);
  if (root->body_type() != wire::ResponseBody::DocumentResponse) {
    return Status(Code::kInternal, Reason::kNone, "unexpected response type");
  }
  const auto* text = root->body_as_DocumentResponse()->text();
  if (text == nullptr) return std::string();
  // The text is most of the response (a bill can be megabytes): moved to the front of the
  // response's own buffer rather than copied into a second one.
  const auto offset = static_cast<size_t>(text->c_str() - response->data());
  const size_t size = text->size();
  std::string document = std::move(*response);
  document.erase(0, offset);
  document.resize(size);
  return document;
}

std::string Client::append_frame(uint64_t request_id, const std::vector<AppendInput>& inputs,
                                 std::optional<uint64_t> expected_head) {
  flatbuffers::FlatBufferBuilder builder(256 + inputs.size() * 256);
  std::vector<flatbuffers::Offset<wire::AppendEvent>> events;
  events.reserve(inputs.size());
  for (const AppendInput& input : inputs) {
    const auto event = fb::Event::Pack(builder, &input.event);
    const fb::EventId id(flatbuffers::span<const uint8_t, 16>(input.event_id.data(), 16));
    flatbuffers::Offset<wire::Secret> secret;
    if (input.secret) {
      secret = wire::CreateSecret(builder, builder.CreateString(input.secret->password),
                                  builder.CreateString(input.secret->totp_seed),
                                  builder.CreateString(input.secret->code));
    }
    wire::AppendEventBuilder append_event(builder);
    append_event.add_event_id(&id);
    append_event.add_event(event);
    if (input.secret) append_event.add_secret(secret);
    events.push_back(append_event.Finish());
  }
  const auto vector = builder.CreateVector(events);
  wire::AppendRequestBuilder append(builder);
  append.add_events(vector);
  if (expected_head) append.add_expected_head(*expected_head);
  return wire::request_frame(builder, request_id, wire::RequestBody::AppendRequest,
                             append.Finish());
}

Result<AppendReply> Client::append(const std::vector<AppendInput>& inputs,
                                   std::optional<uint64_t> expected_head,
                                   std::optional<uint32_t>* failed_index) {
  auto response = exchange(append_frame(next_request_id(), inputs, expected_head));
  if (!response.is_ok()) return response.status();
  const wire::Response* root = root_of(*response);
  if (root->body_type() == wire::ResponseBody::Error) {
    const wire::Error& error = *root->body_as_Error();
    if (failed_index) *failed_index = error.failed_index();
    return wire::status_of(error);
  }
  const auto* reply = root->body_as_AppendResponse();
  if (reply == nullptr) return Status(Code::kInternal, Reason::kNone, "unexpected response type");
  AppendReply result;
  if (reply->positions())
    result.positions.assign(reply->positions()->begin(), reply->positions()->end());
  result.stored = reply->stored();
  result.head.position = reply->head_position();
  if (reply->head_hash()) result.head.hash = hash_of(*reply->head_hash());
  return result;
}

Result<AuthenticateReply> Client::authenticate(const Credentials& credentials) {
  flatbuffers::FlatBufferBuilder builder(256);
  const auto body = wire::CreateAuthenticateRequest(
      builder, builder.CreateString(credentials.token),
      builder.CreateString(credentials.account_id), builder.CreateString(credentials.password),
      builder.CreateString(credentials.totp_code));
  std::string frame =
      wire::request_frame(builder, next_request_id(), wire::RequestBody::AuthenticateRequest, body);
  auto response = call(frame);
  wipe(frame);  // it held the password or token
  if (!response.is_ok()) return response.status();
  const auto* reply = root_of(*response)->body_as_AuthenticateResponse();
  if (reply == nullptr) return Status(Code::kInternal, Reason::kNone, "unexpected response type");
  return AuthenticateReply{reply->principal() ? reply->principal()->str() : "",
                           reply->role() ? reply->role()->str() : ""};
}

Result<uint64_t> Client::hello() {
  flatbuffers::FlatBufferBuilder builder(64);
  const auto body = wire::CreateHelloRequest(builder, builder.CreateString("orgledger-client"));
  auto response =
      call(wire::request_frame(builder, next_request_id(), wire::RequestBody::HelloRequest, body));
  if (!response.is_ok()) return response.status();
  const auto* reply = root_of(*response)->body_as_HelloResponse();
  if (reply == nullptr) return Status(Code::kInternal, Reason::kNone, "unexpected response type");
  return reply->head_position();
}

Result<std::string> Client::get_account(std::string_view account_id, std::string_view as_of,
                                        bool json) {
  flatbuffers::FlatBufferBuilder builder(128);
  const auto body = wire::CreateGetAccountRequest(
      builder, builder.CreateString(account_id.data(), account_id.size()),
      builder.CreateString(as_of.data(), as_of.size()), json);
  return document(
      wire::request_frame(builder, next_request_id(), wire::RequestBody::GetAccountRequest, body));
}

Result<std::string> Client::get_organization(std::string_view org_id, std::string_view as_of,
                                             bool json) {
  flatbuffers::FlatBufferBuilder builder(128);
  const auto body = wire::CreateGetOrganizationRequest(
      builder, builder.CreateString(org_id.data(), org_id.size()),
      builder.CreateString(as_of.data(), as_of.size()), json);
  return document(wire::request_frame(builder, next_request_id(),
                                      wire::RequestBody::GetOrganizationRequest, body));
}

Result<std::string> Client::get_bill(std::string_view payer, std::string_view month,
                                     std::string_view as_of, bool json, std::string_view account_id,
                                     bool summary) {
  flatbuffers::FlatBufferBuilder builder(128);
  const auto body = wire::CreateGetBillRequest(
      builder, builder.CreateString(payer.data(), payer.size()),
      builder.CreateString(month.data(), month.size()),
      builder.CreateString(as_of.data(), as_of.size()), json,
      builder.CreateString(account_id.data(), account_id.size()), summary);
  return document(
      wire::request_frame(builder, next_request_id(), wire::RequestBody::GetBillRequest, body));
}

Result<std::string> Client::export_focus(std::string_view payer, std::string_view month) {
  flatbuffers::FlatBufferBuilder builder(128);
  const auto body =
      wire::CreateExportFocusRequest(builder, builder.CreateString(payer.data(), payer.size()),
                                     builder.CreateString(month.data(), month.size()));
  return document(
      wire::request_frame(builder, next_request_id(), wire::RequestBody::ExportFocusRequest, body));
}

Result<std::string> Client::stats() {
  flatbuffers::FlatBufferBuilder builder(64);
  const auto body = wire::CreateStatsRequest(builder);
  return document(
      wire::request_frame(builder, next_request_id(), wire::RequestBody::StatsRequest, body));
}

Result<std::pair<uint64_t, Hash>> Client::digest() {
  flatbuffers::FlatBufferBuilder builder(64);
  const auto body = wire::CreateDigestRequest(builder);
  auto response =
      call(wire::request_frame(builder, next_request_id(), wire::RequestBody::DigestRequest, body));
  if (!response.is_ok()) return response.status();
  const auto* reply = root_of(*response)->body_as_DigestResponse();
  if (reply == nullptr || reply->digest() == nullptr) {
    return Status(Code::kInternal, Reason::kNone, "unexpected response type");
  }
  return std::make_pair(reply->head_position(), hash_of(*reply->digest()));
}

Result<VerifyReport> Client::verify(uint64_t from, uint64_t to) {
  flatbuffers::FlatBufferBuilder builder(64);
  const auto body = wire::CreateVerifyRequest(builder, from, to);
  auto response =
      call(wire::request_frame(builder, next_request_id(), wire::RequestBody::VerifyRequest, body));
  if (!response.is_ok()) return response.status();
  const auto* reply = root_of(*response)->body_as_VerifyResponse();
  if (reply == nullptr) return Status(Code::kInternal, Reason::kNone, "unexpected response type");
  VerifyReport report;
  report.from = reply->from();
  report.to = reply->to();
  report.records = reply->records();
  report.first_bad_position = reply->first_bad_position();
  if (reply->last_hash()) report.last_hash = hash_of(*reply->last_hash());
  if (!reply->ok() && reply->error()) report.status = wire::status_of(*reply->error());
  return report;
}

Result<std::vector<wire::StoredRecordCopy>> Client::read(uint64_t from, uint32_t max) {
  flatbuffers::FlatBufferBuilder builder(64);
  const auto body = wire::CreateReadRequest(builder, from, max);
  auto response =
      call(wire::request_frame(builder, next_request_id(), wire::RequestBody::ReadRequest, body));
  if (!response.is_ok()) return response.status();
  const auto* reply = root_of(*response)->body_as_RecordsResponse();
  if (reply == nullptr) return Status(Code::kInternal, Reason::kNone, "unexpected response type");
  return records_of(*reply);
}

Status Client::subscribe(uint64_t from) {
  flatbuffers::FlatBufferBuilder builder(64);
  const auto body = wire::CreateSubscribeRequest(builder, from);
  subscription_id_ = next_request_id();
  return send(
      wire::request_frame(builder, subscription_id_, wire::RequestBody::SubscribeRequest, body));
}

Result<std::vector<wire::StoredRecordCopy>> Client::next_records() {
  auto response = receive_answer_to(subscription_id_);
  if (!response.is_ok()) return response.status();
  const wire::Response* root = root_of(*response);
  if (root->body_type() == wire::ResponseBody::Error)
    return wire::status_of(*root->body_as_Error());
  const auto* reply = root->body_as_RecordsResponse();
  if (reply == nullptr) return Status(Code::kInternal, Reason::kNone, "unexpected response type");
  return records_of(*reply);
}

Result<Head> RemoteRecordSource::head() const {
  auto position = client_.hello();
  if (!position.is_ok()) return position.status();
  Head head{*position, {}};
  if (head.position == 0) return head;
  auto last = client_.read(head.position, 1);
  if (!last.is_ok()) return last.status();
  if (last->empty() || last->front().position != head.position) {
    return Status(Code::kDataLoss, Reason::kCorruptRecord,
                  "the server did not return its head record " + std::to_string(head.position));
  }
  head.hash = sha256(last->front().bytes);
  return head;
}

Status RemoteRecordSource::scan(uint64_t from, uint64_t to, const RecordVisitor& visit) const {
  uint64_t next = std::max<uint64_t>(from, 1);
  while (next <= to) {
    auto batch = client_.read(next, 0);
    if (!batch.is_ok()) return batch.status();
    if (batch->empty()) return Status::ok();
    for (const wire::StoredRecordCopy& record : *batch) {
      if (record.position > to) return Status::ok();
      // Records arrive in a std::string (heap, hence aligned) as FlatBuffers require.
      if (visit(StoredRecord{record.position, record.bytes}) == ScanOutcome::kStop) {
        return Status::ok();
      }
      next = record.position + 1;
    }
  }
  return Status::ok();
}

}  // namespace orgledger
