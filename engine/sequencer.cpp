#include "engine/sequencer.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

namespace orgledger {
namespace {
Status stopped() {
  return Status(Code::kUnavailable, Reason::kNone, "the server is shutting down; retry elsewhere");
}
}  // namespace

Sequencer::Sequencer(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {
  thread_ = std::thread([this] { run(); });
  pthread_setname_np(thread_.native_handle(), "sequencer");
}

Sequencer::~Sequencer() { stop(); }

void Sequencer::append(AppendRequest request, AppendDone done) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      appends_.push_back(PendingAppend{std::move(request), std::move(done)});
      wake_.notify_one();
      return;
    }
  }
  AppendOutcome refused;
  refused.status = stopped();
  refused.failed_index = AppendOutcome::kWholeRequest;
  done(std::move(refused));
}

void Sequencer::query(Query query) {
  std::lock_guard lock(mutex_);
  // After stop, queries still run (on the caller's behalf the thread has ended): run none; the
  // caller's connection is being closed anyway.
  if (stopping_) return;
  queries_.push_back(std::move(query));
  wake_.notify_one();
}

void Sequencer::add_commit_listener(CommitListener listener) {
  std::lock_guard lock(mutex_);
  listeners_.push_back(std::move(listener));
}

void Sequencer::stop() {
  std::deque<PendingAppend> refused;
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      refused.swap(appends_);
      queries_.clear();
      wake_.notify_one();
    }
  }
  for (PendingAppend& pending : refused) {
    AppendOutcome outcome;
    outcome.status = stopped();
    outcome.failed_index = AppendOutcome::kWholeRequest;
    pending.done(std::move(outcome));
  }
  // Returns only once the group being written is answered and the thread is gone, so no
  // callback or listener runs after stop() (their owners may go away right after).
  std::lock_guard join_lock(join_mutex_);
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Sequencer::run() {
  for (;;) {
    std::vector<PendingAppend> group;
    std::deque<Query> queries;
    std::vector<CommitListener> listeners;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !appends_.empty() || !queries_.empty(); });
      if (stopping_ && appends_.empty()) {
        lock.unlock();
        // A checkpoint at the head makes the next start-up replay nothing. Failing to write one
        // only means a longer start-up: it is logged, not fatal.
        if (Status written = engine_->checkpoint(); !written.is_ok()) {
          spdlog::warn("final checkpoint not written: {}", written.to_string());
        }
        return;
      }
      // Group commit: everything waiting now goes into one batch.
      group.reserve(appends_.size());
      for (PendingAppend& pending : appends_) group.push_back(std::move(pending));
      appends_.clear();
      queries.swap(queries_);
      listeners = listeners_;
    }
    if (!group.empty()) {
      std::vector<AppendRequest> requests;
      requests.reserve(group.size());
      for (PendingAppend& pending : group) requests.push_back(std::move(pending.request));
      std::vector<AppendOutcome> outcomes = engine_->append_group(std::move(requests));
      const Head head = outcomes.back().head;
      for (size_t i = 0; i < group.size(); ++i) group[i].done(std::move(outcomes[i]));
      for (const CommitListener& listener : listeners) listener(head);
    }
    for (const Query& query : queries) query(*engine_);
  }
}

}  // namespace orgledger
