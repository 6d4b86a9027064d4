// The server end to end over loopback: a real store in a temp directory, the server on port 0,
// clients over TCP.
#include "engine/server.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <boost/asio.hpp>
#include <cstring>
#include <map>
#include <thread>

#include "engine/client.h"
#include "projections/billing.h"
#include "replay/fold.h"
#include "replay/record.h"
#include "replay/reports.h"
#include "replay/verify.h"
#include "tests/support/events.h"
#include "tests/support/secrets.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"

using namespace orgledger;
using namespace orgledger::testing;

namespace {

// A server on 127.0.0.1:0 over a store in `directory`, running on its own threads.
class TestServer {
 public:
  explicit TestServer(const std::string& directory, ServerOptions options = {}) {
    // One operator token per role.
    for (Role role : {Role::kAdmin, Role::kIngest, Role::kAuditor}) {
      auto token = new_operator_token(role_name(role), role);
      REQUIRE(token.is_ok());
      options.tokens.push_back(
          OperatorToken{std::string(role_name(role)), role, token_hash(token->token)});
      tokens_[role] = token->token;
    }
    auto engine = Engine::open(directory);
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
  std::unique_ptr<Client> client() const { return client_as(Role::kAdmin); }
  std::unique_ptr<Client> client_as(Role role) const {
    auto client = anonymous_client();
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
  wire::RequestBuilder request(builder);
  request.add_request_id(request_id);
  request.add_body_type(wire::RequestBody::AuthenticateRequest);
  request.add_body(body.Union());
  builder.Finish(request.Finish(), wire::RequestIdentifier());
  return wire::frame(builder);
}

uint16_t port_of(const std::string& address) {
  return static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
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
  auto missing = client->get_account("999999999999", "", false);
  REQUIRE_FALSE(missing.is_ok());
  CHECK_FAILS_WITH(missing.status(), Code::kNotFound, Reason::kAccountNotFound);
}

TEST_CASE("server: a refused append names the event and stores nothing") {
  TempDir dir;
  TestServer server(dir.str());
  auto client = server.client();
  std::vector<AppendInput> inputs = worked_example();
  inputs.push_back(
      input_of(id_of(0, 99), account_closed("111111111111", "2026-10-20T00:00:00Z")));
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

TEST_CASE("server: 1,000 pipelined requests on one connection are answered in order") {
  TempDir dir;
  TestServer server(dir.str());
  auto client = server.client();
  REQUIRE(client->append(worked_example()).is_ok());
  std::string frames;
  for (uint64_t id = 1; id <= 1000; ++id) {
    if (id % 3 == 0) {
      frames += Client::append_frame(id, {tiny_usage(7, static_cast<uint32_t>(id))});
    } else {
      flatbuffers::FlatBufferBuilder builder;
      const auto body = wire::CreateHelloRequest(builder);
      wire::RequestBuilder request(builder);
      request.add_request_id(id);
      request.add_body_type(wire::RequestBody::HelloRequest);
      request.add_body(body.Union());
      builder.Finish(request.Finish(), wire::RequestIdentifier());
      frames += wire::frame(builder);
    }
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
    wire::RequestBuilder request(builder);
    request.add_request_id(1);
    request.add_body_type(wire::RequestBody::SubscribeRequest);
    request.add_body(body.Union());
    builder.Finish(request.Finish(), wire::RequestIdentifier());
    subscriber.send(wire::frame(builder));
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
