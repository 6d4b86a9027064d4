// The server end to end over loopback: a real store in a temp directory, the server on port 0,
// clients over TCP.
#include "engine/server.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "engine/client.h"
#include "projections/billing.h"
#include "replay/fold.h"
#include "replay/record.h"
#include "replay/reports.h"
#include "replay/verify.h"
#include "tests/support/events.h"
#include "tests/support/fault_fs.h"
#include "tests/support/secrets.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {

// A server on 127.0.0.1:0 over a store in `directory`, running on its own threads.
class TestServer {
 public:
  explicit TestServer(const std::string& directory, ServerOptions options = {},
                      EngineOptions engine_options = {}) {
    // One operator token per role.
    for (Role role : {Role::kAdmin, Role::kIngest, Role::kAuditor}) {
      auto token = new_operator_token(role_name(role), role);
      REQUIRE(token.is_ok());
      options.tokens.push_back(
          OperatorToken{std::string(role_name(role)), role, token_hash(token->token)});
      tokens_[role] = token->token;
    }
    auto engine = Engine::open(directory, std::move(engine_options));
    REQUIRE(engine.is_ok());
    sequencer_ = std::make_unique<Sequencer>(std::move(*engine));
    options.listen = "127.0.0.1:0";
    auto server = Server::start(*sequencer_, options);
    REQUIRE(server.is_ok());
    server_ = std::move(*server);
    runner_ = std::thread([this] { server_->run(); });
  }
  ~TestServer() { stop(); }
  void stop() {
    if (!server_) return;
    server_->stop();
    runner_.join();
    server_.reset();
    sequencer_.reset();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  // A connection signed in as the admin operator.
  std::unique_ptr<Client> client(const ClientOptions& options = {}) const {
    return client_as(Role::kAdmin, options);
  }
  std::unique_ptr<Client> client_as(Role role, const ClientOptions& options = {}) const {
    auto client = anonymous_client(options);
    REQUIRE(client->authenticate(Credentials{token(role), "", "", ""}).is_ok());
    return client;
  }
  // A connection that has not signed in.
  std::unique_ptr<Client> anonymous_client(const ClientOptions& options = {}) const {
    auto client = Client::connect(address(), options);
    REQUIRE(client.is_ok());
    return std::move(*client);
  }
  const std::string& token(Role role) const { return tokens_.at(role); }
  Sequencer& sequencer() { return *sequencer_; }

 private:
  std::map<Role, std::string> tokens_;
  std::unique_ptr<Sequencer> sequencer_;
  std::unique_ptr<Server> server_;
  std::thread runner_;
};

EventIdBytes id_of(uint32_t a, uint32_t b) {
  EventIdBytes id{};
  for (int i = 0; i < 4; ++i) {
    id[i] = static_cast<uint8_t>(a >> (8 * i));
    id[4 + i] = static_cast<uint8_t>(b >> (8 * i));
  }
  return id;
}

std::vector<AppendInput> worked_example() {
  std::vector<fb::EventT> events = worked_example_events();
  std::vector<AppendInput> inputs;
  uint32_t n = 0;
  for (auto& event : events) {
    AppendInput input;
    input.event_id = id_of(0, ++n);
    input.event = std::move(event);
    attach_test_secret(input);
    inputs.push_back(std::move(input));
  }
  return inputs;
}

AppendInput input_of(EventIdBytes id, fb::EventT event) {
  AppendInput input;
  input.event_id = id;
  input.event = std::move(event);
  return input;
}

AppendInput tiny_usage(uint32_t client, uint32_t index) {
  return input_of(id_of(client + 1000, index),
                  usage_recorded(client % 2 == 0 ? "111111111111" : "222222222222",
                                 "DataTransfer-Out-GB", "0.000001", "2026-10-10T00:00:00Z"));
}

// An engine that stores on `disk`, whose faults the test switches on and off.
EngineOptions on_disk(const FaultyDisk& disk) {
  EngineOptions options;
  options.store.env = disk.env;
  return options;
}

// A raw TCP connection, for frames no well-behaved client would send.
struct RawConnection {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket{io};
  explicit RawConnection(uint16_t port) {
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  }
  void send(const std::string& bytes) { boost::asio::write(socket, boost::asio::buffer(bytes)); }
  // The next response frame, or "" when the server closed the connection.
  std::string receive() {
    uint8_t header[4];
    boost::system::error_code error;
    boost::asio::read(socket, boost::asio::buffer(header), error);
    if (error) return "";
    std::string body(wire::decode_length(header), '\0');
    boost::asio::read(socket, boost::asio::buffer(body.data(), body.size()), error);
    return error ? "" : body;
  }
};

std::string length_prefix(uint32_t length) {
  std::string out;
  for (int shift = 0; shift < 32; shift += 8) out += static_cast<char>((length >> shift) & 0xff);
  return out;
}

// The worked example's events: account, password, MFA, organization, member, price, 2 usage.
constexpr uint64_t kExample = 8;

std::string authenticate_request(uint64_t request_id, const std::string& token) {
  flatbuffers::FlatBufferBuilder builder;
  const auto body = wire::CreateAuthenticateRequest(builder, builder.CreateString(token));
  return wire::request_frame(builder, request_id, wire::RequestBody::AuthenticateRequest, body);
}

std::string hello_request(uint64_t request_id) {
  flatbuffers::FlatBufferBuilder builder;
  const auto body = wire::CreateHelloRequest(builder);
  return wire::request_frame(builder, request_id, wire::RequestBody::HelloRequest, body);
}

uint16_t port_of(const std::string& address) {
  return static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}

// Turns TLS on for a server and its clients, with a certificate made for the test in `directory`.
void use_tls(const TempDir& directory, ServerOptions& options, ClientOptions& client_options) {
  const std::string key = (directory.path() / "tls.key").string();
  const std::string certificate = (directory.path() / "tls.crt").string();
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
      "-subj /CN=orgledger-test -addext subjectAltName=IP:127.0.0.1 -keyout '" +
      key + "' -out '" + certificate + "' 2>/dev/null";
  REQUIRE(std::system(command.c_str()) == 0);
  options.tls_cert_file = certificate;
  options.tls_key_file = key;
  client_options.tls_ca_file = certificate;
}

}  // namespace

TEST_CASE("server: append, query and bill over the socket equal the embedded results") {
  TempDir served_dir, embedded_dir;
  TestServer server(served_dir.str());
  auto client = server.client();
  auto reply = client->append(worked_example());
  REQUIRE(reply.is_ok());
  CHECK(reply->stored == kExample);
  CHECK(reply->head.position == kExample);

  // The same events appended to an embedded store bill the same; the account views and the
  // digest also record who appended what and when, so they are compared with a replay of the
  // records the server sends.
  auto embedded = Engine::open(embedded_dir.str());
  REQUIRE(embedded.is_ok());
  REQUIRE_OK((*embedded)->append(worked_example(), local_operator()).status);
  const Registry& independent = (*embedded)->registry();
  auto auditor = server.client_as(Role::kAuditor);
  RemoteRecordSource remote(*auditor);
  auto replayed = replay_to_position(remote, std::numeric_limits<uint64_t>::max());
  REQUIRE(replayed.is_ok());
  const Registry& state = *replayed;
  for (bool json : {false, true}) {
    CHECK(client->get_bill("111111111111", "2026-10", "", json).value() ==
          render_bill(independent, "111111111111", 202610, json).value());
    CHECK(client->get_account("222222222222", "", json).value() ==
          render_account(state, "222222222222", json, at("2026-11-01T00:00:00Z")).value());
  }
  CHECK(client->get_account("111111111111", "", false)->find("operator:admin") !=
        std::string::npos);
  CHECK(client->export_focus("111111111111", "2026-10").value() ==
        render_focus(independent, "111111111111", 202610).value());
  CHECK(client->digest()->second == digest(state));
  CHECK(client->get_bill("111111111111", "2026-10", "", true)->find("\"total\":\"2007.04\"") !=
        std::string::npos);
  // As of position 7 only the management account's usage is there.
  CHECK(client->get_bill("111111111111", "2026-10", "7", true)->find("\"total\":\"1392.64\"") !=
        std::string::npos);
  // A bill is answered from the cache only until the next commit.
  std::vector<AppendInput> more;
  more.push_back(input_of(id_of(0, 50), usage_recorded("222222222222", "DataTransfer-Out-GB",
                                                       "1024", "2026-10-06T00:00:00Z")));
  REQUIRE(client->append(more).is_ok());
  CHECK(client->get_bill("111111111111", "2026-10", "", true)->find("\"total\":\"2007.04\"") ==
        std::string::npos);
  CHECK(client->get_bill("111111111111", "2026-10", "", true).value() ==
        client->get_bill("111111111111", "2026-10", "", true).value());
  // The summary is the bill without its "lines" (and a cached full bill is not served for it).
  const std::string full = client->get_bill("111111111111", "2026-10", "", true).value();
  const std::string summary =
      client->get_bill("111111111111", "2026-10", "", true, "", true).value();
  const size_t lines = full.find(",\"lines\":[");
  const size_t corrections = full.find("],\"corrections\":[");
  REQUIRE(lines != std::string::npos);
  REQUIRE(corrections != std::string::npos);
  CHECK(summary == full.substr(0, lines) + full.substr(corrections + 1));
  const std::string summary_as_of =
      client->get_bill("111111111111", "2026-10", "7", true, "", true).value();
  CHECK(summary_as_of.find("\"lines\"") == std::string::npos);
  CHECK(summary_as_of.find("\"total\":\"1392.64\"") != std::string::npos);
  const std::string table =
      client->get_bill("111111111111", "2026-10", "", false, "", true).value();
  CHECK(table.find("BILLED") == std::string::npos);
  CHECK(table.find("CONSOLIDATED") != std::string::npos);
  auto missing = client->get_account("999999999999", "", false);
  REQUIRE_FALSE(missing.is_ok());
  CHECK_FAILS_WITH(missing.status(), Code::kNotFound, Reason::kAccountNotFound);
}

TEST_CASE("server: a refused append names the event and stores nothing") {
  TempDir dir;
  TestServer server(dir.str());
  auto client = server.client();
  std::vector<AppendInput> inputs = worked_example();
  inputs.push_back(input_of(id_of(0, 99), account_closed("111111111111", "2026-10-20T00:00:00Z")));
  std::optional<uint32_t> failed_index;
  auto reply = client->append(inputs, std::nullopt, &failed_index);
  REQUIRE_FALSE(reply.is_ok());
  CHECK_FAILS_WITH_DETAIL(reply.status(), Code::kFailedPrecondition, Reason::kConstraintViolation,
                          "CANNOT_CLOSE_MANAGEMENT_ACCOUNT");
  CHECK(failed_index == std::optional<uint32_t>(kExample));
  CHECK(client->hello().value() == 0);
}

TEST_CASE("server: expected_head conflict answers Aborted and stores nothing") {
  TempDir dir;
  TestServer server(dir.str());
  auto client = server.client();
  REQUIRE(client->append(worked_example(), 0).is_ok());
  std::vector<AppendInput> more;
  more.push_back(tiny_usage(0, 1));
  auto stale = client->append(more, 5);
  REQUIRE_FALSE(stale.is_ok());
  CHECK_FAILS_WITH(stale.status(), Code::kAborted, Reason::kWrongExpectedHead);
  CHECK(client->hello().value() == kExample);
  CHECK(client->append(more, kExample).is_ok());
  CHECK(client->hello().value() == kExample + 1);
}

TEST_CASE(
    "server: 32 concurrent clients x 500 appends with retries store each event exactly "
    "once, gapless, chained, replayable") {
  TempDir dir;
  TestServer server(dir.str());
  REQUIRE(server.client()->append(worked_example()).is_ok());
  constexpr uint32_t kClients = 32;
  constexpr uint32_t kAppends = 500;
  std::vector<std::vector<uint64_t>> acknowledged(kClients);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (uint32_t c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto client = Client::connect(server.address());
      if (!client.is_ok() ||
          !(*client)->authenticate(Credentials{server.token(Role::kIngest), "", "", ""}).is_ok()) {
        ++failures;
        return;
      }
      for (uint32_t i = 0; i < kAppends; ++i) {
        std::vector<AppendInput> one{tiny_usage(c, i)};
        auto reply = (*client)->append(one);
        if (!reply.is_ok()) {
          ++failures;
          continue;
        }
        acknowledged[c].push_back(reply->positions[0]);
        if (i % 10 == 0) {  // a retry after a "lost" answer reuses the event id
          auto retry = (*client)->append(one);
          if (!retry.is_ok() || retry->positions[0] != reply->positions[0] || retry->stored != 0) {
            ++failures;
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures.load() == 0);

  auto client = server.client();
  const uint64_t head = client->hello().value();
  CHECK(head == kExample + kClients * kAppends);
  // Every acknowledged position holds that client's event, and no position twice.
  std::vector<bool> seen(head + 1, false);
  for (uint32_t c = 0; c < kClients; ++c) {
    REQUIRE(acknowledged[c].size() == kAppends);
    for (uint64_t position : acknowledged[c]) {
      REQUIRE(position > kExample);
      REQUIRE(position <= head);
      REQUIRE_FALSE(seen[position]);
      seen[position] = true;
    }
  }
  RemoteRecordSource remote(*client);
  const VerifyReport report = verify_chain(remote);
  CHECK_OK(report.status);
  CHECK(report.records == head);
  auto replayed = replay_to_position(remote, head);
  REQUIRE(replayed.is_ok());
  CHECK(digest(*replayed) == client->digest()->second);
}

TEST_CASE(
    "server: 1,000 pipelined requests on one connection are answered in order, over plain TCP "
    "and TLS") {
  TempDir directory;
  ServerOptions options;
  ClientOptions client_options;
  SUBCASE("plain TCP") {}
  SUBCASE("TLS") { use_tls(directory, options, client_options); }
  TestServer server((directory.path() / "data").string(), options);
  auto client = server.client(client_options);
  REQUIRE(client->append(worked_example()).is_ok());
  std::string frames;
  for (uint64_t id = 1; id <= 1000; ++id) {
    frames += id % 3 == 0 ? Client::append_frame(id, {tiny_usage(7, static_cast<uint32_t>(id))})
                          : hello_request(id);
  }
  REQUIRE_OK(client->send(frames));
  for (uint64_t id = 1; id <= 1000; ++id) {
    auto response = client->receive();
    REQUIRE(response.is_ok());
    const auto* root = flatbuffers::GetRoot<wire::Response>(response->data());
    REQUIRE(root->request_id() == id);
    REQUIRE(root->body_type() ==
            (id % 3 == 0 ? wire::ResponseBody::AppendResponse : wire::ResponseBody::HelloResponse));
  }
}

TEST_CASE(
    "server: requests pipelined behind others with the same ids store each event once, while "
    "the first is written and after") {
  TempDir dir;
  TestServer server(dir.str());
  auto client = server.client();
  REQUIRE(client->append(worked_example()).is_ok());
  const uint64_t base = client->hello().value();
  // 100 requests of 1,000 new events, each sent again right behind itself, and every fifth a
  // third time with its last event changed, 16 requests in flight: a repeat meets its ids in
  // the group being prepared, in a group being written, or in the store.
  constexpr uint32_t kRequests = 100;
  constexpr uint32_t kEvents = 1000;
  struct Sent {
    uint32_t request;
    int kind;  // 0: first, 1: identical repeat, 2: changed
  };
  std::vector<std::string> frames;
  std::vector<Sent> sent;
  for (uint32_t r = 0; r < kRequests; ++r) {
    std::vector<AppendInput> inputs;
    for (uint32_t e = 0; e < kEvents; ++e) inputs.push_back(tiny_usage(r, e));
    for (int kind = 0; kind < 2; ++kind) {
      frames.push_back(Client::append_frame(frames.size() + 1, inputs));
      sent.push_back(Sent{r, kind});
    }
    if (r % 5 == 0) {
      inputs.back() =
          input_of(inputs.back().event_id, usage_recorded("222222222222", "DataTransfer-Out-GB",
                                                          "0.000002", "2026-10-10T00:00:00Z"));
      frames.push_back(Client::append_frame(frames.size() + 1, inputs));
      sent.push_back(Sent{r, 2});
    }
  }
  std::vector<std::vector<uint64_t>> first_positions(kRequests);
  size_t next = 0;
  for (size_t received = 0; received < frames.size(); ++received) {
    while (next < frames.size() && next - received < 16) REQUIRE_OK(client->send(frames[next++]));
    auto response = client->receive();
    REQUIRE(response.is_ok());
    const auto* root = flatbuffers::GetRoot<wire::Response>(response->data());
    REQUIRE(root->request_id() == received + 1);
    const Sent& what = sent[received];
    if (what.kind == 2) {
      REQUIRE(root->body_type() == wire::ResponseBody::Error);
      CHECK_FAILS_WITH(wire::status_of(*root->body_as_Error()), Code::kAlreadyExists,
                       Reason::kDuplicateEventId);
      continue;
    }
    REQUIRE(root->body_type() == wire::ResponseBody::AppendResponse);
    const auto* answer = root->body_as_AppendResponse();
    REQUIRE(answer->positions() != nullptr);
    const std::vector<uint64_t> positions(answer->positions()->begin(), answer->positions()->end());
    REQUIRE(positions.size() == kEvents);
    if (what.kind == 0) {
      CHECK(answer->stored() == kEvents);
      first_positions[what.request] = positions;
    } else {
      CHECK(answer->stored() == 0);
      CHECK(positions == first_positions[what.request]);
    }
  }
  CHECK(client->hello().value() == base + uint64_t{kRequests} * kEvents);
}

TEST_CASE("wire: a shared document is each request's own frame, copying only its first bytes") {
  for (const std::string& text : {std::string(), std::string("{}"), std::string(300'000, 'x')}) {
    const wire::SharedDocument document(text);
    std::vector<wire::OutFrame> frames;
    for (uint64_t id : {uint64_t{1}, uint64_t{0}, uint64_t{42}, ~uint64_t{0}}) {
      frames.push_back(document.frame_for(id));
    }
    size_t index = 0;
    for (uint64_t id : {uint64_t{1}, uint64_t{0}, uint64_t{42}, ~uint64_t{0}}) {
      INFO("text bytes: ", text.size(), ", request id: ", id);
      const wire::OutFrame& frame = frames[index++];
      CHECK(frame.own.size() < 64);
      const std::string bytes = frame.own + std::string(frame.shared_part());
      CHECK(bytes.size() == document.size());
      REQUIRE(bytes.size() > wire::kFrameHeaderBytes);
      CHECK(wire::decode_length(reinterpret_cast<const uint8_t*>(bytes.data())) ==
            bytes.size() - wire::kFrameHeaderBytes);
      auto root = wire::verify_response(std::string_view(bytes).substr(wire::kFrameHeaderBytes));
      REQUIRE(root.is_ok());
      CHECK((*root)->request_id() == id);
      REQUIRE((*root)->body_type() == wire::ResponseBody::DocumentResponse);
      CHECK((*root)->body_as_DocumentResponse()->text()->string_view() == text);
    }
  }
}

TEST_CASE("server: pipelined bills answered from the cache each carry their own request id") {
  TempDir dir;
  TestServer server(dir.str());
  auto client = server.client();
  REQUIRE(client->append(worked_example()).is_ok());
  const std::string full = client->get_bill("111111111111", "2026-10", "", true).value();
  const std::string summary =
      client->get_bill("111111111111", "2026-10", "", true, "", true).value();
  REQUIRE(full != summary);
  // Ids from high to low, full bills, summaries and hellos interleaved, all sent at once: each
  // answer shares the cached frame but for its own id.
  std::string frames;
  for (uint64_t id = 300; id > 200; --id) {
    if (id % 5 == 0) {
      frames += hello_request(id);
      continue;
    }
    flatbuffers::FlatBufferBuilder builder;
    const auto body = wire::CreateGetBillRequest(
        builder, builder.CreateString("111111111111"), builder.CreateString("2026-10"),
        builder.CreateString(""), true, builder.CreateString(""), id % 2 == 0);
    frames += wire::request_frame(builder, id, wire::RequestBody::GetBillRequest, body);
  }
  REQUIRE_OK(client->send(frames));
  for (uint64_t id = 300; id > 200; --id) {
    auto response = client->receive();
    REQUIRE(response.is_ok());
    const auto* root = flatbuffers::GetRoot<wire::Response>(response->data());
    REQUIRE(root->request_id() == id);
    if (id % 5 == 0) {
      CHECK(root->body_type() == wire::ResponseBody::HelloResponse);
      continue;
    }
    REQUIRE(root->body_type() == wire::ResponseBody::DocumentResponse);
    CHECK(root->body_as_DocumentResponse()->text()->string_view() ==
          (id % 2 == 0 ? summary : full));
  }
}

TEST_CASE("server: a subscription catches up, then follows appends, each event once, in order") {
  TempDir dir;
  TestServer server(dir.str());
  REQUIRE(server.client()->append(worked_example()).is_ok());
  auto subscriber = server.client();
  REQUIRE_OK(subscriber->subscribe(1));
  constexpr uint32_t kLive = 300;
  std::thread appender([&] {
    auto client = server.client();
    for (uint32_t i = 0; i < kLive; ++i) {
      REQUIRE(client->append({tiny_usage(3, i)}).is_ok());
    }
  });
  uint64_t expected = 1;
  while (expected <= kExample + kLive) {
    auto batch = subscriber->next_records();
    REQUIRE(batch.is_ok());
    for (const auto& record : *batch) {
      REQUIRE(record.position == expected);
      REQUIRE(decode_record(StoredRecord{record.position, record.bytes}).is_ok());
      ++expected;
    }
  }
  appender.join();
  CHECK(expected == kExample + kLive + 1);
}

TEST_CASE("server: bad frames get an error or a close, nothing is stored, others are served") {
  TempDir dir;
  ServerOptions options;
  options.max_frame_bytes = 1024 * 1024;
  TestServer server(dir.str(), options);
  const uint16_t port = port_of(server.address());
  auto healthy = server.client();
  REQUIRE(healthy->append(worked_example()).is_ok());

  auto expect_error_then_close = [&](const std::string& bytes, std::string_view what) {
    INFO("frame: ", what);
    RawConnection raw(port);
    raw.send(bytes);
    const std::string response = raw.receive();
    REQUIRE_FALSE(response.empty());
    auto verified = wire::verify_response(response);
    REQUIRE(verified.is_ok());
    REQUIRE((*verified)->body_type() == wire::ResponseBody::Error);
    CHECK((*verified)->request_id() == 0);
    CHECK(raw.receive().empty());  // then the server closes
  };
  expect_error_then_close(length_prefix(0), "zero length");
  expect_error_then_close(length_prefix(2 * 1024 * 1024), "oversize");
  expect_error_then_close(length_prefix(64) + std::string(64, '\x5a'), "garbage");
  {
    // The right identifier, but offsets pointing outside the buffer.
    std::string bytes = Client::append_frame(1, worked_example()).substr(4);
    for (size_t i = 8; i < bytes.size(); i += 7) bytes[i] = static_cast<char>(0xff);
    expect_error_then_close(length_prefix(static_cast<uint32_t>(bytes.size())) + bytes,
                            "failing the verifier");
  }
  {
    flatbuffers::FlatBufferBuilder builder;
    wire::RequestBuilder request(builder);
    request.add_request_id(5);
    builder.Finish(request.Finish(), wire::RequestIdentifier());
    expect_error_then_close(wire::frame(builder), "no request type");
  }
  {
    RawConnection raw(port);
    raw.send(length_prefix(100) + std::string(10, 'x'));  // truncated: then the client leaves
  }
  CHECK(healthy->hello().value() == kExample);
  auto fresh = server.client();
  CHECK(fresh->hello().value() == kExample);
  CHECK(fresh->append({tiny_usage(1, 1)}).is_ok());
}

TEST_CASE("server: on a failing disk appends answer the fault, queries are served, then it heals") {
  TempDir dir;
  FaultyDisk disk = make_faulty_disk();
  TestServer server(dir.str(), {}, on_disk(disk));
  auto writer = server.client();
  REQUIRE(writer->append(worked_example()).is_ok());
  auto reader = server.client_as(Role::kAuditor);
  const std::string bill = reader->get_bill("111111111111", "2026-10", "", true).value();
  const auto state = reader->digest().value();

  for (DiskFault fault : {DiskFault::kNoSpace, DiskFault::kWriteError}) {
    disk.fs->set_fault(fault);
    const Code expected =
        fault == DiskFault::kNoSpace ? Code::kResourceExhausted : Code::kUnavailable;
    auto refused = writer->append({tiny_usage(1, static_cast<uint32_t>(fault))});
    REQUIRE_FALSE(refused.is_ok());
    CHECK(refused.status().code() == expected);
    // Reads go on, on other connections and on the writer's own, and see nothing new.
    CHECK(reader->hello().value() == kExample);
    CHECK(reader->get_bill("111111111111", "2026-10", "", true).value() == bill);
    CHECK(reader->digest().value() == state);
    CHECK(writer->hello().value() == kExample);
    disk.fs->set_fault(DiskFault::kNone);
  }
  // Healed: the same process takes appends again.
  auto appended = writer->append({tiny_usage(1, 100)});
  REQUIRE(appended.is_ok());
  CHECK(appended->head.position == kExample + 1);
  CHECK(reader->hello().value() == kExample + 1);
}

TEST_CASE(
    "server: concurrent appends while the disk fails on and off: acknowledged means stored, "
    "retries store nothing twice, and the state equals a replay") {
  TempDir dir;
  FaultyDisk disk = make_faulty_disk();
  TestServer server(dir.str(), {}, on_disk(disk));
  REQUIRE(server.client()->append(worked_example()).is_ok());

  constexpr uint32_t kWriters = 4;
  constexpr uint32_t kRequests = 150;
  std::array<std::map<uint32_t, uint64_t>, kWriters> acknowledged;  // index -> position
  std::array<std::vector<uint32_t>, kWriters> refused;
  std::atomic<bool> writers_done{false};
  std::atomic<uint64_t> acknowledgements{0};
  std::vector<std::thread> writers;
  for (uint32_t w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      auto client = server.client();
      for (uint32_t i = 1; i <= kRequests; ++i) {
        auto reply = client->append({tiny_usage(w, i)});
        if (reply.is_ok()) {
          acknowledged[w][i] = reply->positions.at(0);
          ++acknowledgements;
        } else {
          refused[w].push_back(i);
        }
      }
    });
  }
  // Writes and syncs fail on and off while the writers run: 3 ms of faults, then at least 7 ms
  // without, and until an append has been acknowledged since. After a failed write the store
  // reopens and reloads, which takes longer than 7 ms in a sanitizer build: a fixed rhythm
  // could fail every reopen and never let the server recover.
  std::thread flapper([&] {
    while (!writers_done.load()) {
      const uint64_t before = acknowledgements.load();
      disk.fs->set_fault(DiskFault::kWriteError);
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
      disk.fs->set_fault(DiskFault::kNone);
      std::this_thread::sleep_for(std::chrono::milliseconds(7));
      while (acknowledgements.load() == before && !writers_done.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  });
  for (std::thread& writer : writers) writer.join();
  writers_done.store(true);
  flapper.join();
  disk.fs->set_fault(DiskFault::kNone);

  // A refused append is "not known to be stored": one whose sync failed after its bytes reached
  // RocksDB's log comes back, whole, when the store reopens. The client retries each with the
  // same event id, as it must; then every event is stored exactly once.
  auto retrier = server.client();
  size_t came_back = 0, refused_total = 0, acknowledged_total = 0;
  for (uint32_t w = 0; w < kWriters; ++w) {
    for (uint32_t i : refused[w]) {
      auto reply = retrier->append({tiny_usage(w, i)});
      REQUIRE(reply.is_ok());
      if (reply->stored == 0) ++came_back;
      ++refused_total;
    }
    acknowledged_total += acknowledged[w].size();
  }
  MESSAGE("acknowledged ", acknowledged_total, ", refused ", refused_total, ", of which ",
          came_back, " were stored after all");
  CHECK(acknowledged_total > 0);
  CHECK(refused_total > 0);

  const auto [head, state] = retrier->digest().value();
  CHECK(head == kExample + kWriters * kRequests);
  RemoteRecordSource remote(*retrier);
  CHECK(verify_chain(remote, 1, head).status.is_ok());
  auto replayed = replay_to_position(remote, head);
  REQUIRE(replayed.is_ok());
  CHECK(digest(*replayed) == state);
  std::map<EventIdBytes, uint64_t> stored;  // id -> position
  CHECK(remote
            .scan(1, head,
                  [&](const StoredRecord& record) {
                    const auto* id = decode_record(record).value()->event_id();
                    EventIdBytes bytes{};
                    std::copy(id->bytes()->begin(), id->bytes()->end(), bytes.begin());
                    CHECK(stored.emplace(bytes, record.position).second);  // once
                    return ScanOutcome::kContinue;
                  })
            .is_ok());
  // Every acknowledged event is stored where its answer said.
  for (uint32_t w = 0; w < kWriters; ++w) {
    for (const auto& [i, position] : acknowledged[w]) {
      auto found = stored.find(tiny_usage(w, i).event_id);
      REQUIRE(found != stored.end());
      CHECK(found->second == position);
    }
  }
}

TEST_CASE("server: an event with a body type and no body is refused, and the server goes on") {
  TempDir dir;
  TestServer server(dir.str());
  auto client = server.client();
  REQUIRE(client->append(worked_example()).is_ok());
  // Built by hand: the object API cannot express a type without its table.
  flatbuffers::FlatBufferBuilder builder;
  fb::EventBuilder event(builder);
  event.add_occurred_at(1'791'590'400'000'000);  // 2026-10-10
  event.add_body_type(fb::EventBody::UsageRecorded);
  const auto event_offset = event.Finish();
  const EventIdBytes id_bytes{0xbd};
  const fb::EventId id(flatbuffers::span<const uint8_t, 16>(id_bytes.data(), 16));
  wire::AppendEventBuilder append_event(builder);
  append_event.add_event_id(&id);
  append_event.add_event(event_offset);
  const auto events = builder.CreateVector(
      std::vector<flatbuffers::Offset<wire::AppendEvent>>{append_event.Finish()});
  wire::AppendRequestBuilder append(builder);
  append.add_events(events);
  const auto body = append.Finish();
  REQUIRE(client->send(wire::request_frame(builder, 7, wire::RequestBody::AppendRequest, body))
              .is_ok());
  const auto response = client->receive();
  REQUIRE(response.is_ok());
  const auto* root = flatbuffers::GetRoot<wire::Response>(response->data());
  REQUIRE(root->body_type() == wire::ResponseBody::Error);
  const Status refused = wire::status_of(*root->body_as_Error());
  CHECK(refused.code() == Code::kInvalidArgument);
  CHECK(refused.reason() == Reason::kInvalidInput);
  CHECK(refused.message().find("UsageRecorded") != std::string::npos);
  CHECK(root->body_as_Error()->failed_index() == 0);
  // Nothing stored, and the same connection is served.
  CHECK(client->hello().value() == kExample);
}

TEST_CASE("server: hostile events get a clear error, store nothing, and others are served") {
  TempDir dir;
  TestServer server(dir.str());
  auto hostile = server.client();
  auto bystander = server.client_as(Role::kAuditor);
  REQUIRE(hostile->append(worked_example()).is_ok());
  const auto state = bystander->digest().value();

  auto usage_of = [](std::string account, int64_t micro_units) {
    fb::EventT event =
        usage_recorded(std::move(account), "DataTransfer-Out-GB", "1", "2026-10-10T00:00:00Z");
    event.body.AsUsageRecorded()->quantity = micro_units;
    return event;
  };
  auto credit_of = [](int64_t nano_usd, std::string credit_id = "c-hostile") {
    fb::EventT event = credit_granted(std::move(credit_id), "222222222222", "1", std::nullopt,
                                      "2026-10-10T00:00:00Z");
    event.body.AsCreditGranted()->amount = nano_usd;
    return event;
  };
  auto at_time = [&](Micros when) {
    fb::EventT event = usage_of("222222222222", 1);
    event.occurred_at = when;
    return event;
  };
  auto account = [](std::string id, std::string email, std::string name) {
    return account_created(std::move(id), std::move(email), std::move(name), "",
                           "2026-10-10T00:00:00Z");
  };
  fb::EventT unknown_type = usage_of("222222222222", 1);
  unknown_type.body.Reset();
  unknown_type.body.type = static_cast<fb::EventBody>(200);
  fb::EventT no_body = usage_of("222222222222", 1);
  no_body.body.Reset();

  struct Hostile {
    std::string name;
    fb::EventT event;
    Reason reason;
  };
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  std::vector<Hostile> cases;
  cases.push_back(
      {"quantity at int64 max", usage_of("222222222222", kMax), Reason::kAmountOverflow});
  cases.push_back({"quantity at int64 min", usage_of("222222222222", kMin), Reason::kInvalidInput});
  cases.push_back({"negative quantity", usage_of("222222222222", -1), Reason::kInvalidInput});
  cases.push_back({"zero quantity", usage_of("222222222222", 0), Reason::kInvalidInput});
  cases.push_back({"negative credit", credit_of(-1), Reason::kInvalidInput});
  cases.push_back({"zero credit", credit_of(0), Reason::kInvalidInput});
  cases.push_back({"short account id", usage_of("12345", 1), Reason::kInvalidInput});
  cases.push_back({"letters in an account id", usage_of("abcdefghijkl", 1), Reason::kInvalidInput});
  cases.push_back({"empty account id", usage_of("", 1), Reason::kInvalidInput});
  cases.push_back(
      {"email without @", account("333333333333", "no-at-sign", "N"), Reason::kInvalidInput});
  cases.push_back({"email of invalid UTF-8", account("333333333333", "a\xff@example.com", "N"),
                   Reason::kInvalidInput});
  cases.push_back({"name of invalid UTF-8", account("333333333333", "n@example.com", "\xc3\x28"),
                   Reason::kInvalidInput});
  cases.push_back({"name with a control character",
                   account("333333333333", "n@example.com", std::string("a\0b", 3)),
                   Reason::kInvalidInput});
  cases.push_back({"timestamp at int64 max", at_time(kMax), Reason::kFutureTimestamp});
  cases.push_back({"timestamp before 1970", at_time(-1), Reason::kInvalidInput});
  cases.push_back({"timestamp at int64 min", at_time(kMin), Reason::kInvalidInput});
  cases.push_back({"unknown event type", std::move(unknown_type), Reason::kEventNotSupported});
  cases.push_back({"no event body", std::move(no_body), Reason::kInvalidInput});

  uint32_t n = 0;
  for (Hostile& hostile_case : cases) {
    INFO("event: ", hostile_case.name);
    auto reply = hostile->append({input_of(id_of(77, ++n), std::move(hostile_case.event))});
    REQUIRE_FALSE(reply.is_ok());
    INFO("answer: ", reply.status().to_string());
    CHECK(reply.status().reason() == hostile_case.reason);
    CHECK_FALSE(reply.status().message().empty());
    // Nothing stored; the connection and the others go on.
    CHECK(bystander->hello().value() == kExample);
    CHECK(hostile->hello().value() == kExample);
  }
  CHECK(bystander->digest().value() == state);

  // Credits of int64-max nano-USD are representable, and accepted; each is consumed only up to
  // what is billed, in 128-bit sums, so the bill stays exact: the whole October is credited.
  REQUIRE(hostile->append({input_of(id_of(78, 1), credit_of(kMax, "c-max-1"))}).is_ok());
  REQUIRE(hostile->append({input_of(id_of(78, 2), credit_of(kMax, "c-max-2"))}).is_ok());
  const std::string bill = bystander->get_bill("111111111111", "2026-10", "", true).value();
  CHECK(bill.find(R"("credits_total":"2007.04","total":"0","invoice_amount":"0.00")") !=
        std::string::npos);
}

TEST_CASE("server: a client that sends a frame one byte at a time is cut at the idle timeout") {
  TempDir dir;
  ServerOptions options;
  options.idle_timeout = std::chrono::milliseconds(400);
  TestServer server(dir.str(), options);
  const std::string frame = Client::append_frame(1, {tiny_usage(1, 1)});
  RawConnection slow(port_of(server.address()));
  const auto started = std::chrono::steady_clock::now();
  size_t sent = 0;
  boost::system::error_code error;
  // One byte every 50 ms: the frame would take far longer than the timeout to arrive.
  while (sent < frame.size() && !error) {
    boost::asio::write(slow.socket, boost::asio::buffer(frame.data() + sent, 1), error);
    if (!error) ++sent;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (std::chrono::steady_clock::now() - started > std::chrono::seconds(5)) break;
  }
  CHECK(sent < frame.size());  // cut before the frame was complete
  CHECK(slow.receive().empty());
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
  CHECK(server.client()->hello().value() == 0);  // nothing stored; the server serves others
}

TEST_CASE("server: frames split anywhere across reads, or sharing one, are each served once") {
  TempDir dir;
  TestServer server(dir.str());
  RawConnection raw(port_of(server.address()));
  const std::string first = hello_request(1);
  const std::string second = hello_request(2);
  const std::string third = hello_request(3);
  // Half a header; the rest of it and part of the body; the body's end with the next two
  // frames whole.
  const std::vector<std::string> pieces = {first.substr(0, 2), first.substr(2, 7),
                                           first.substr(9) + second + third};
  for (const std::string& piece : pieces) {
    raw.send(piece);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  for (uint64_t id = 1; id <= 3; ++id) {
    const std::string response = raw.receive();
    REQUIRE(!response.empty());
    const auto* root = flatbuffers::GetRoot<wire::Response>(response.data());
    CHECK(root->request_id() == id);
    CHECK(root->body_type() == wire::ResponseBody::HelloResponse);
  }
}

TEST_CASE("server: a connection sending within the idle timeout stays open past it") {
  TempDir dir;
  ServerOptions options;
  options.idle_timeout = std::chrono::milliseconds(300);
  TestServer server(dir.str(), options);
  RawConnection raw(port_of(server.address()));
  const auto started = std::chrono::steady_clock::now();
  // A request every 100 ms for 1.2 s: four times the timeout, never idle for one.
  for (uint64_t id = 1; id <= 12; ++id) {
    raw.send(hello_request(id));
    const std::string response = raw.receive();
    REQUIRE(!response.empty());
    CHECK(flatbuffers::GetRoot<wire::Response>(response.data())->request_id() == id);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(std::chrono::steady_clock::now() - started > std::chrono::milliseconds(1000));
  // Then idle: closed.
  CHECK(raw.receive().empty());
}

TEST_CASE("server: an idle connection is closed after the idle timeout") {
  TempDir dir;
  ServerOptions options;
  options.idle_timeout = std::chrono::milliseconds(200);
  TestServer server(dir.str(), options);
  RawConnection raw(port_of(server.address()));
  CHECK(raw.receive().empty());  // returns once the server closes
}

TEST_CASE("server: connections beyond the limit are refused with ResourceExhausted") {
  TempDir dir;
  ServerOptions options;
  options.max_connections = 2;
  TestServer server(dir.str(), options);
  auto first = server.client();
  auto second = server.client();
  REQUIRE(first->hello().is_ok());
  REQUIRE(second->hello().is_ok());
  RawConnection third(port_of(server.address()));
  const std::string response = third.receive();
  REQUIRE_FALSE(response.empty());
  const auto* root = wire::verify_response(response).value();
  REQUIRE(root->body_type() == wire::ResponseBody::Error);
  CHECK(wire::status_of(*root->body_as_Error()).code() == Code::kResourceExhausted);
  first.reset();
  // Capacity frees up once a connection closes.
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    auto again = Client::connect(server.address());
    served = again.is_ok() && (*again)->hello().is_ok();
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(served);
}

namespace {
// The whole number a stats document gives `key` (our JSON writer puts no spaces), or nullopt.
std::optional<uint64_t> stat_of(const std::string& stats, std::string_view key) {
  const std::string field = "\"" + std::string(key) + "\":";
  const size_t at = stats.find(field);
  if (at == std::string::npos) return std::nullopt;
  uint64_t value = 0;
  const char* begin = stats.data() + at + field.size();
  const auto [end, error] = std::from_chars(begin, stats.data() + stats.size(), value);
  if (error != std::errc() || end == begin) return std::nullopt;
  return value;
}
}  // namespace

TEST_CASE("server: stats report the head, the counts and RocksDB's background work") {
  TempDir dir;
  TestServer server(dir.str());
  auto client = server.client();
  REQUIRE(client->append(worked_example()).is_ok());
  auto stats = client->stats();
  REQUIRE(stats.is_ok());
  INFO(*stats);
  CHECK(stat_of(*stats, "head_position") == kExample);
  CHECK(stat_of(*stats, "accounts").value_or(0) > 0);
  CHECK(stat_of(*stats, "organizations").value_or(0) > 0);
  CHECK(stat_of(*stats, "connections").value_or(0) >= 1);
  for (const char* key : {"running_flushes", "running_compactions", "pending_compaction_bytes"}) {
    CHECK_MESSAGE(stat_of(*stats, key).has_value(), key);
  }
  // A store of eight events has nothing left to flush or compact once RocksDB is done with
  // what opening it started.
  bool idle = false;
  for (int i = 0; i < 200 && !idle; ++i) {
    auto now = client->stats();
    REQUIRE(now.is_ok());
    idle = stat_of(*now, "running_flushes") == 0u && stat_of(*now, "running_compactions") == 0u &&
           stat_of(*now, "pending_compaction_bytes") == 0u;
    if (!idle) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(idle);
}

TEST_CASE(
    "server: stats say why while the store is closed after a failed write, and report RocksDB's "
    "work again once it reopens") {
  TempDir dir;
  FaultyDisk disk = make_faulty_disk();
  TestServer server(dir.str(), {}, on_disk(disk));
  auto client = server.client();
  REQUIRE(client->append(worked_example()).is_ok());

  // The first append fails in the log; the next finds the store failed, and neither reopening
  // it for writes nor read-only succeeds on this disk: the store stays closed.
  disk.fs->set_fault(DiskFault::kUnreadable);
  CHECK(client->append({tiny_usage(1, 1)}).status().code() == Code::kUnavailable);
  CHECK(client->append({tiny_usage(1, 2)}).status().code() == Code::kUnavailable);
  auto closed = client->stats();
  REQUIRE(closed.is_ok());
  INFO(*closed);
  CHECK(closed->find("\"storage_error\":") != std::string::npos);
  CHECK(closed->find("could not be reopened") != std::string::npos);
  CHECK_FALSE(stat_of(*closed, "running_flushes").has_value());
  CHECK(stat_of(*closed, "head_position") == kExample);

  // Healed: the next append reopens the store, and the stats count its work again.
  disk.fs->set_fault(DiskFault::kNone);
  auto appended = client->append({tiny_usage(1, 3)});
  REQUIRE(appended.is_ok());
  CHECK(appended->head.position == kExample + 1);
  auto open = client->stats();
  REQUIRE(open.is_ok());
  INFO(*open);
  CHECK(open->find("storage_error") == std::string::npos);
  CHECK(stat_of(*open, "running_flushes").has_value());
  CHECK(stat_of(*open, "head_position") == kExample + 1);
}

TEST_CASE("server: after a restart the head and the digest are the same") {
  TempDir dir;
  Head head;
  Hash state{};
  {
    TestServer server(dir.str());
    auto client = server.client();
    auto reply = client->append(worked_example());
    REQUIRE(reply.is_ok());
    head = reply->head;
    state = client->digest()->second;
  }
  TestServer server(dir.str());
  auto client = server.client();
  CHECK(client->hello().value() == head.position);
  CHECK(client->digest()->second == state);
  RemoteRecordSource remote(*client);
  CHECK(remote.head()->hash == head.hash);
}

TEST_CASE(
    "server: a subscriber that stops reading is cut when it falls too far behind, and "
    "appends never wait for it") {
  TempDir dir;
  ServerOptions options;
  options.max_subscriber_lag = 100;
  options.subscriber_stall_timeout = std::chrono::milliseconds(200);
  TestServer server(dir.str(), options);
  REQUIRE(server.client()->append(worked_example()).is_ok());

  // A subscriber that never reads.
  RawConnection subscriber(port_of(server.address()));
  subscriber.send(authenticate_request(1, server.token(Role::kAuditor)));
  REQUIRE_FALSE(subscriber.receive().empty());
  {
    flatbuffers::FlatBufferBuilder builder;
    const auto body = wire::CreateSubscribeRequest(builder, 1);
    subscriber.send(wire::request_frame(builder, 1, wire::RequestBody::SubscribeRequest, body));
  }
  // 100,000 events (about 25 MB of records) in requests of 500: far more than the socket
  // buffers of both ends hold.
  auto appender = server.client();
  const auto started = std::chrono::steady_clock::now();
  for (uint32_t request = 0; request < 200; ++request) {
    std::vector<AppendInput> batch;
    for (uint32_t i = 0; i < 500; ++i) batch.push_back(tiny_usage(9, request * 500 + i));
    REQUIRE(appender->append(batch).is_ok());
  }
  const auto elapsed = std::chrono::steady_clock::now() - started;
  MESSAGE("100,000 appends beside a stuck subscriber took ",
          std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), " ms");
  CHECK(appender->hello().value() == kExample + 100'000);
  // Once its write has been stuck past the stall timeout, the next commit cuts it.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE(appender->append({tiny_usage(10, 1)}).is_ok());

  // The server has closed the stuck subscriber: draining its socket ends (end of stream or
  // reset) instead of waiting for more (a 10-second receive timeout fails the test).
  struct timeval timeout {
    10, 0
  };
  const int fd = subscriber.socket.native_handle();
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  const auto drain_started = std::chrono::steady_clock::now();
  size_t drained = 0;
  bool closed = false;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      drained += static_cast<size_t>(n);
      continue;
    }
    closed = n == 0 || errno == ECONNRESET;
    if (!closed) MESSAGE("recv failed: ", std::string(std::strerror(errno)));
    break;
  }
  MESSAGE("the stuck subscriber had ", drained, " bytes in flight when it was cut; drained in ",
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                drain_started)
              .count(),
          " ms");
  CHECK(closed);
}

// ---- Authentication and authorization (docs/security.md) -----------------------------------

namespace {

// Whether the server let a request through. Only PermissionDenied/AccessDenied counts as
// refused; any other failure fails the test.
template <typename T>
bool let_through(const Result<T>& result) {
  const Status status = result.is_ok() ? Status::ok() : result.status();
  if (status.is_ok()) return true;
  if (status.code() == Code::kPermissionDenied && status.reason() == Reason::kAccessDenied) {
    return false;
  }
  FAIL("unexpected refusal: ", status.to_string());
  return false;
}

std::vector<AppendInput> one(uint32_t id, fb::EventT event) {
  std::vector<AppendInput> inputs;
  inputs.push_back(input_of(id_of(77, id), std::move(event)));
  return inputs;
}

}  // namespace

TEST_CASE("auth: before signing in only Hello and Authenticate are served") {
  TempDir dir;
  TestServer server(dir.str());
  auto client = server.anonymous_client();
  CHECK(client->hello().is_ok());
  auto refused = client->append(worked_example());
  REQUIRE_FALSE(refused.is_ok());
  CHECK_FAILS_WITH(refused.status(), Code::kUnauthenticated, Reason::kAuthenticationRequired);
  CHECK_FAILS_WITH(client->verify(1, 0).status(), Code::kUnauthenticated,
                   Reason::kAuthenticationRequired);
  CHECK_FAILS_WITH(client->get_bill("111111111111", "2026-10", "", false).status(),
                   Code::kUnauthenticated, Reason::kAuthenticationRequired);
  auto wrong = client->authenticate(Credentials{"olt_not-a-token", "", "", ""});
  CHECK_FAILS_WITH(wrong.status(), Code::kUnauthenticated, Reason::kAuthenticationFailed);
  auto signed_in = client->authenticate(Credentials{server.token(Role::kAuditor), "", "", ""});
  REQUIRE(signed_in.is_ok());
  CHECK(signed_in->principal == "operator:auditor");
  CHECK(signed_in->role == "auditor");
  CHECK(client->verify(1, 0).is_ok());
  CHECK(client->hello().value() == 0);  // nothing was stored
}

TEST_CASE("auth: repeated failures for an account are slowed down, then locked out") {
  TempDir dir;
  ServerOptions options;
  options.lockout.slow_after = 1;
  options.lockout.lock_after = 3;
  options.lockout.first_delay = std::chrono::milliseconds(100);
  options.lockout.lock_for = std::chrono::seconds(60);
  TestServer server(dir.str(), options);
  REQUIRE(server.client()->append(worked_example()).is_ok());
  auto client = server.anonymous_client();
  const Credentials wrong{"", "111111111111", "Wrong-Passw0rd!", "000000"};
  CHECK_FAILS_WITH(client->authenticate(wrong).status(), Code::kUnauthenticated,
                   Reason::kAuthenticationFailed);
  const auto before_slow = std::chrono::steady_clock::now();
  CHECK_FAILS_WITH(client->authenticate(wrong).status(), Code::kUnauthenticated,
                   Reason::kAuthenticationFailed);
  CHECK(std::chrono::steady_clock::now() - before_slow >= std::chrono::milliseconds(100));
  CHECK_FAILS_WITH(client->authenticate(wrong).status(), Code::kUnauthenticated,
                   Reason::kAuthenticationFailed);
  // Locked: even the right password and code are refused now.
  const Credentials right{"", "111111111111", std::string(kTestPassword),
                          test_totp_code(wall_clock_micros() + 30'000'000)};
  CHECK_FAILS_WITH(client->authenticate(right).status(), Code::kResourceExhausted,
                   Reason::kLockedOut);
  // The lockout covers the address too: another account from here is refused as well.
  CHECK_FAILS_WITH(server.anonymous_client()
                       ->authenticate(Credentials{"", "222222222222", "Whatever-1!", ""})
                       .status(),
                   Code::kResourceExhausted, Reason::kLockedOut);
}

TEST_CASE("auth: the authorization matrix of roles and accounts") {
  TempDir dir;
  TestServer server(dir.str());
  // The worked example (payer 111111111111 with password and MFA, member 222222222222), two
  // standalone accounts with passwords invited to the organization, and the member's password.
  {
    auto admin = server.client();
    REQUIRE(admin->append(worked_example()).is_ok());
    std::vector<fb::EventT> events;
    events.push_back(
        account_created("333333333333", "ops@outside.io", "Outside", "", "2026-11-01T00:00:00Z"));
    events.push_back(
        account_created("444444444444", "team@agency.io", "Agency", "", "2026-11-01T00:00:00Z"));
    events.push_back(password_changed("222222222222", "2026-11-01T00:00:00Z"));
    events.push_back(password_changed("333333333333", "2026-11-01T00:00:00Z"));
    events.push_back(
        account_invited("h-invite00001", "o-exampleorg1", "333333333333", "2026-11-02T00:00:00Z"));
    events.push_back(
        account_invited("h-invite00002", "o-exampleorg1", "444444444444", "2026-11-02T00:00:00Z"));
    REQUIRE(admin->append(inputs_of(std::move(events), 100)).is_ok());
  }
  const std::string password(kTestPassword);
  struct Principal {
    const char* name;
    std::unique_ptr<Client> client;
  };
  std::vector<Principal> principals;
  principals.push_back({"admin", server.client_as(Role::kAdmin)});
  principals.push_back({"ingest", server.client_as(Role::kIngest)});
  principals.push_back({"auditor", server.client_as(Role::kAuditor)});
  for (const char* account : {"111111111111", "222222222222", "333333333333"}) {
    auto client = server.anonymous_client();
    // The payer has MFA: the code of the step after the one that enabled it.
    const std::string code = std::string(account) == "111111111111"
                                 ? test_totp_code(wall_clock_micros() + 30'000'000)
                                 : "";
    auto signed_in = client->authenticate(Credentials{"", account, password, code});
    REQUIRE_MESSAGE(signed_in.is_ok(), account, ": ", signed_in.status().to_string());
    CHECK(signed_in->principal == "account:" + std::string(account));
    principals.push_back({account, std::move(client)});
  }
  // Who may do what: admin, ingest, auditor, payer, member, invitee.
  struct Expectation {
    const char* kind;
    std::array<bool, 6> allowed;
  };
  const std::vector<Expectation> matrix = {
      {"append an organization change", {true, false, false, true, false, false}},
      {"accept a handshake", {true, false, false, false, false, true}},
      {"read another member", {true, false, true, true, false, false}},
      {"read its own account", {true, false, true, true, true, true}},
      {"read the consolidated bill", {true, false, true, true, false, false}},
      {"read the member's own charges", {true, false, true, true, true, false}},
      {"replay (read the raw log)", {true, false, true, false, false, false}},
      {"verify", {true, false, true, false, false, false}},
      {"append usage", {true, true, false, false, false, false}},
  };
  uint32_t next_id = 1;
  for (const Expectation& expectation : matrix) {
    for (size_t p = 0; p < principals.size(); ++p) {
      Client& client = *principals[p].client;
      // Operators have no account of their own: they read the member's.
      const std::string self = p >= 3 ? principals[p].name : "222222222222";
      const std::string context = std::string(expectation.kind) + " as " + principals[p].name;
      INFO(context);
      const std::string kind = expectation.kind;
      bool through = false;
      if (kind == "append an organization change") {
        const uint32_t id = next_id++;
        through = let_through(
            client.append(one(id, quota_set("o-exampleorg1", 10 + id, "2026-11-03T00:00:00Z"))));
      } else if (kind == "accept a handshake") {
        // The admin accepts the agency's invitation; everyone else tries the outsider's, whose
        // invitee (the last principal) goes last.
        const char* handshake = p == 0 ? "h-invite00002" : "h-invite00001";
        through = let_through(
            client.append(one(next_id++, handshake_accepted(handshake, "2026-11-04T00:00:00Z"))));
      } else if (kind == "read another member") {
        through =
            let_through(client.get_account(p == 4 ? "111111111111" : "222222222222", "", false));
      } else if (kind == "read its own account") {
        through = let_through(client.get_account(self, "", false));
      } else if (kind == "read the consolidated bill") {
        through = let_through(client.get_bill("111111111111", "2026-10", "", false));
      } else if (kind == "read the member's own charges") {
        through = let_through(client.get_bill("111111111111", "2026-10", "", true, "222222222222"));
      } else if (kind == "replay (read the raw log)") {
        through = let_through(client.read(1, 10));
      } else if (kind == "verify") {
        through = let_through(client.verify(1, 0));
      } else if (kind == "append usage") {
        through = let_through(
            client.append(one(next_id++, usage_recorded("222222222222", "DataTransfer-Out-GB", "1",
                                                        "2026-11-05T00:00:00Z"))));
      }
      CHECK(through == expectation.allowed[p]);
    }
  }
  // Every stored record names the principal that appended it.
  auto auditor = server.client_as(Role::kAuditor);
  auto records = auditor->read(1, 1000);
  REQUIRE(records.is_ok());
  std::set<std::string> actors;
  for (const auto& record : *records) {
    auto decoded = decode_record(StoredRecord{record.position, record.bytes});
    REQUIRE(decoded.is_ok());
    actors.insert((*decoded)->actor()->str());
  }
  CHECK(actors == std::set<std::string>{"operator:admin", "operator:ingest", "account:111111111111",
                                        "account:333333333333"});
}

TEST_CASE("auth: requests pipelined behind a password are sequenced after it") {
  TempDir dir;
  TestServer server(dir.str());
  auto client = server.client();
  // One request per event, sent without waiting: the password is hashed off the sequencer, and
  // the organization (which needs it) must still come after it.
  std::vector<AppendInput> inputs = worked_example();
  std::string frames;
  for (size_t i = 0; i < inputs.size(); ++i) {
    frames += Client::append_frame(100 + i, {inputs[i]});
  }
  REQUIRE_OK(client->send(frames));
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto response = client->receive();
    REQUIRE(response.is_ok());
    const auto* root = flatbuffers::GetRoot<wire::Response>(response->data());
    CHECK(root->request_id() == 100 + i);
    INFO("request ", i);
    REQUIRE(root->body_type() == wire::ResponseBody::AppendResponse);
    CHECK(root->body_as_AppendResponse()->positions()->Get(0) == i + 1);
  }
}

namespace {

// One connection on 127.0.0.1:0 that answers every request frame with the next of `responses`
// (whole frames, length prefix included), then closes: a server that lies to the client.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::vector<std::string> responses)
      : acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this, responses = std::move(responses)] {
      boost::asio::ip::tcp::socket socket(io_);
      boost::system::error_code error;
      acceptor_.accept(socket, error);
      for (const std::string& response : responses) {
        if (error) return;
        uint8_t header[4];
        boost::asio::read(socket, boost::asio::buffer(header), error);
        std::string request(wire::decode_length(header), '\0');
        if (!error)
          boost::asio::read(socket, boost::asio::buffer(request.data(), request.size()), error);
        if (!error) boost::asio::write(socket, boost::asio::buffer(response), error);
      }
    });
  }
  ~ScriptedServer() { thread_.join(); }
  std::string address() const {
    return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

// A response frame to `request_id` whose union says `type` and whose table is absent.
std::string response_without_body(wire::ResponseBody type, uint64_t request_id) {
  flatbuffers::FlatBufferBuilder builder;
  wire::ResponseBuilder response(builder);
  response.add_request_id(request_id);
  response.add_body_type(type);
  builder.Finish(response.Finish(), wire::RequestIdentifier());
  return wire::frame(builder);
}

}  // namespace

TEST_CASE("client: a response without its body, or of another type, is refused, not read") {
  // Each type the client reads, sent without its table: the client must not dereference it.
  for (wire::ResponseBody type :
       {wire::ResponseBody::HelloResponse, wire::ResponseBody::Error,
        wire::ResponseBody::AppendResponse, wire::ResponseBody::DocumentResponse}) {
    INFO("type without a body: ", wire::EnumNameResponseBody(type));
    ScriptedServer server({response_without_body(type, 1), response_without_body(type, 2)});
    auto client = Client::connect(server.address());
    REQUIRE(client.is_ok());
    CHECK_FALSE((*client)->hello().is_ok());
    CHECK_FALSE((*client)->append(worked_example()).is_ok());
  }
  {
    // A well-formed answer of the wrong type: a digest answered to hello, to an append.
    std::vector<std::string> digests;
    for (uint64_t request_id = 1; request_id <= 3; ++request_id) {
      flatbuffers::FlatBufferBuilder builder;
      const auto body = wire::CreateDigestResponse(builder, 3);
      wire::ResponseBuilder response(builder);
      response.add_request_id(request_id);
      response.add_body_type(wire::ResponseBody::DigestResponse);
      response.add_body(body.Union());
      builder.Finish(response.Finish(), wire::RequestIdentifier());
      digests.push_back(wire::frame(builder));
    }
    ScriptedServer server(digests);
    auto client = Client::connect(server.address());
    REQUIRE(client.is_ok());
    auto hello = (*client)->hello();
    REQUIRE_FALSE(hello.is_ok());
    CHECK(hello.status().message() == "unexpected response type");
    auto appended = (*client)->append(worked_example());
    REQUIRE_FALSE(appended.is_ok());
    CHECK(appended.status().message() == "unexpected response type");
    auto stats = (*client)->stats();
    REQUIRE_FALSE(stats.is_ok());
    CHECK(stats.status().message() == "unexpected response type");
  }
}

TEST_CASE("client: an answer to another request breaks the connection off, for good") {
  // Request 1 (hello) is answered as if it were request 2: whatever the client read next would
  // be one answer late. The call fails, and so does every later one, without reading on.
  flatbuffers::FlatBufferBuilder builder;
  const auto body = wire::CreateHelloResponse(builder, builder.CreateString("scripted"), 1, 5);
  wire::ResponseBuilder response(builder);
  response.add_request_id(2);
  response.add_body_type(wire::ResponseBody::HelloResponse);
  response.add_body(body.Union());
  builder.Finish(response.Finish(), wire::RequestIdentifier());
  const std::string late = wire::frame(builder);
  ScriptedServer server({late, late});
  auto client = Client::connect(server.address());
  REQUIRE(client.is_ok());
  auto hello = (*client)->hello();
  REQUIRE_FALSE(hello.is_ok());
  CHECK(hello.status().code() == Code::kUnavailable);
  CHECK(hello.status().message() ==
        "the answer to request 2 came while waiting for request 1: the connection is out of step");
  auto again = (*client)->hello();
  REQUIRE_FALSE(again.is_ok());
  CHECK(again.status().message() == hello.status().message());
  CHECK_FALSE((*client)->send(late).is_ok());
  CHECK_FALSE((*client)->receive().is_ok());
}

namespace {

std::atomic<int> alarms_taken{0};
extern "C" void take_alarm(int) { alarms_taken.fetch_add(1, std::memory_order_relaxed); }

// Blocks SIGALRM in the thread that makes it, so that threads started meanwhile (the server's,
// RocksDB's) inherit the block; installs a handler without SA_RESTART and a timer that fires
// every 200 µs. The signal interrupts the blocking calls of the threads that unblock it. All is
// undone at the end of scope.
class AlarmStorm {
 public:
  AlarmStorm() {
    sigemptyset(&alarm_);
    sigaddset(&alarm_, SIGALRM);
    REQUIRE(sigaction(SIGALRM, nullptr, &action_before_) == 0);
    REQUIRE(pthread_sigmask(SIG_BLOCK, &alarm_, &mask_before_) == 0);
  }
  void start() {
    struct sigaction action {};
    action.sa_handler = take_alarm;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: blocking calls fail with EINTR
    REQUIRE(sigaction(SIGALRM, &action, nullptr) == 0);
    itimerval every{{0, 200}, {0, 200}};
    REQUIRE(setitimer(ITIMER_REAL, &every, nullptr) == 0);
  }
  static void take_in_this_thread() {
    sigset_t alarm;
    sigemptyset(&alarm);
    sigaddset(&alarm, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &alarm, nullptr);
  }
  ~AlarmStorm() {
    itimerval off{};
    setitimer(ITIMER_REAL, &off, nullptr);
    // A signal left pending while every thread blocked it is discarded by ignoring it, before
    // the unblock and the old action (by default, to terminate) could deliver it.
    signal(SIGALRM, SIG_IGN);
    pthread_sigmask(SIG_SETMASK, &mask_before_, nullptr);
    sigaction(SIGALRM, &action_before_, nullptr);
  }

 private:
  sigset_t alarm_;
  sigset_t mask_before_;
  struct sigaction action_before_ {};
};

}  // namespace

TEST_CASE("server: frames of megabytes arrive whole both ways, over plain TCP and TLS") {
  TempDir directory;
  ServerOptions options;
  ClientOptions client_options;
  SUBCASE("plain TCP") {}
  SUBCASE("TLS") { use_tls(directory, options, client_options); }
  TestServer server((directory.path() / "data").string(), options);
  auto client = server.client(client_options);
  REQUIRE(client->append(worked_example()).is_ok());
  // Requests of 1,000 events (hundreds of KiB each) to the server...
  constexpr uint32_t kRequests = 6;
  for (uint32_t r = 0; r < kRequests; ++r) {
    std::vector<AppendInput> events;
    for (uint32_t i = 0; i < 1000; ++i) events.push_back(tiny_usage(r, i));
    REQUIRE(client->append(events).is_ok());
  }
  const uint64_t head = worked_example().size() + kRequests * 1000;
  // ...and every record in one answer of megabytes, equal to the same records read 100 at a time.
  auto whole = client->read(1, 100000);
  REQUIRE(whole.is_ok());
  REQUIRE(whole->size() == head);
  size_t bytes = 0;
  for (const wire::StoredRecordCopy& record : *whole) bytes += record.bytes.size();
  CHECK(bytes > 1024 * 1024);
  for (uint64_t from = 1; from <= head; from += 100) {
    auto part = client->read(from, 100);
    REQUIRE(part.is_ok());
    REQUIRE(!part->empty());
    for (const wire::StoredRecordCopy& record : *part) {
      REQUIRE(record.position <= head);
      CHECK(record.bytes == (*whole)[record.position - 1].bytes);
      CHECK((*whole)[record.position - 1].position == record.position);
    }
  }
}

TEST_CASE("client: calls that a signal interrupts are resumed, not failed") {
  TempDir directory;
  ServerOptions options;
  ClientOptions client_options;
  SUBCASE("plain TCP") {}
  SUBCASE("TLS") { use_tls(directory, options, client_options); }
  AlarmStorm storm;
  TestServer server((directory.path() / "data").string(), options);
  const std::string address = server.address();
  const std::string token = server.token(Role::kAdmin);
  alarms_taken = 0;
  storm.start();

  // Every call waits on the server (each append for its sync), with the signal arriving every
  // 200 µs in this thread only. Any failure is recorded and checked after the join.
  std::vector<std::string> failures;
  uint64_t head = 0;
  std::thread caller([&] {
    AlarmStorm::take_in_this_thread();
    auto note = [&](const char* what, const Status& status) {
      if (!status.is_ok()) failures.push_back(std::string(what) + ": " + status.to_string());
    };
    for (int connection = 0; connection < 10; ++connection) {
      auto client = Client::connect(address, client_options);
      if (!client.is_ok()) {
        note("connect", client.status());
        continue;
      }
      note("authenticate", (*client)->authenticate(Credentials{token, "", "", ""}).status());
      if (connection == 0) note("append", (*client)->append(worked_example()).status());
      for (uint32_t i = 0; i < 20; ++i) {
        note("append", (*client)->append({tiny_usage(connection, i)}).status());
      }
      note("bill", (*client)->get_bill("111111111111", "2026-10", "", true).status());
      auto verified = (*client)->verify(1, 0);
      note("verify", verified.status());
      auto hello = (*client)->hello();
      note("hello", hello.status());
      if (hello.is_ok()) head = *hello;
    }
  });
  caller.join();
  const int alarms = alarms_taken.load();
  INFO("signals taken: ", alarms);
  CHECK(alarms > 100);
  for (const std::string& failure : failures) CHECK_MESSAGE(false, failure);
  CHECK(failures.empty());
  CHECK(head == worked_example().size() + 10 * 20);
}
