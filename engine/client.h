// A blocking client of the orgledger server (docs/protocol.md), used by the CLI, the tests and
// the benchmarks. One Client is one connection; not thread-safe (one thread at a time).
// `send` and `receive` can be used separately to pipeline; the helpers send one request and
// wait for its answer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/authenticator.h"
#include "engine/engine.h"
#include "engine/wire.h"
#include "projections/status.h"
#include "replay/verify.h"

namespace orgledger {

// The answer to an append, as the server sent it.
struct AppendReply {
  std::vector<uint64_t> positions;
  uint32_t stored = 0;
  Head head;
};

struct ClientOptions {
  // When set: connect with TLS and accept only a server certificate signed by this CA (PEM)
  // that names the host connected to.
  std::string tls_ca_file;
};

struct AuthenticateReply {
  std::string principal;  // "account:ID" or "operator:NAME"
  std::string role;
};

class Client {
 public:
  // Connects to "HOST:PORT". Unavailable when nothing answers there or the TLS handshake fails
  // (for example, a plain server, or a certificate the CA did not sign).
  static Result<std::unique_ptr<Client>> connect(std::string_view host_port,
                                                 const ClientOptions& options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // A fresh request id (1, 2, ...).
  uint64_t next_request_id() { return ++last_request_id_; }

  // Sends one frame as it is (its 4-byte header included).
  Status send(std::string_view frame);
  // Receives one response frame and returns its bytes (verified). Unavailable when the
  // connection closed. A send or receive that fails part-way leaves the connection unusable:
  // every later call on this Client answers Unavailable with the first failure.
  Result<std::string> receive();

  // Builders of request frames.
  static std::string append_frame(uint64_t request_id, const std::vector<AppendInput>& inputs,
                                  std::optional<uint64_t> expected_head = std::nullopt);

  // One request, one answer. Errors from the server come back as their Status (with the
  // failed event's index in `failed_index`, when the server named one).
  Result<AppendReply> append(const std::vector<AppendInput>& inputs,
                             std::optional<uint64_t> expected_head = std::nullopt,
                             std::optional<uint32_t>* failed_index = nullptr);
  Result<uint64_t> hello();
  // Signs this connection in (docs/security.md).
  Result<AuthenticateReply> authenticate(const Credentials& credentials);
  Result<std::string> get_account(std::string_view account_id, std::string_view as_of, bool json);
  Result<std::string> get_organization(std::string_view org_id, std::string_view as_of, bool json);
  // `account_id` set: only that account's charges on the payer's bill; `summary`: without the
  // per-account lines.
  Result<std::string> get_bill(std::string_view payer, std::string_view month,
                               std::string_view as_of, bool json, std::string_view account_id = {},
                               bool summary = false);
  Result<std::string> export_focus(std::string_view payer, std::string_view month);
  Result<std::string> stats();
  Result<std::pair<uint64_t, Hash>> digest();
  Result<VerifyReport> verify(uint64_t from, uint64_t to);
  Result<std::vector<wire::StoredRecordCopy>> read(uint64_t from, uint32_t max);

  // Starts a subscription; then next_records() returns each batch as it arrives.
  Status subscribe(uint64_t from);
  Result<std::vector<wire::StoredRecordCopy>> next_records();

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  // Receives one response, which must answer `request_id` (or be an error about the whole
  // connection); anything else leaves the connection out of step and unusable.
  Result<std::string> receive_answer_to(uint64_t request_id);
  // Sends `frame` and returns the verified response to it, errors included.
  Result<std::string> exchange(const std::string& frame);
  // The same, with an error response returned as its Status.
  Result<std::string> call(const std::string& frame);
  Result<std::string> document(const std::string& frame);

  std::unique_ptr<Impl> impl_;
  uint64_t last_request_id_ = 0;
  uint64_t subscription_id_ = 0;
};

// The log of a server as a RecordSource: records are fetched with Read requests, so replay and
// chain verification run on the client against the bytes the server stores. `client` must
// outlive it; not thread-safe.
class RemoteRecordSource final : public RecordSource {
 public:
  explicit RemoteRecordSource(Client& client) : client_(client) {}
  Result<Head> head() const override;
  Status scan(uint64_t from, uint64_t to, const RecordVisitor& visit) const override;

 private:
  Client& client_;
};

}  // namespace orgledger
