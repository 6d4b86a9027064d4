#include "engine/sequencer.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <iterator>

namespace orgledger {
namespace {
Status stopped() {
  return Status(Code::kUnavailable, Reason::kNone, "the server is shutting down; retry elsewhere");
}
}  // namespace

Sequencer::Sequencer(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {
  writer_thread_ = std::thread([this] { write_loop(); });
  pthread_setname_np(writer_thread_.native_handle(), "writer");
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
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
    thread_.join();
    {
      std::lock_guard lock(writer_.mutex);
      writer_.quit = true;
    }
    writer_.work_signal.notify_one();
    writer_thread_.join();
  }
}

void Sequencer::write_loop() {
  for (;;) {
    PreparedGroup* group = nullptr;
    {
      std::unique_lock lock(writer_.mutex);
      writer_.work_signal.wait(
          lock, [&] { return writer_.quit || (!writer_.hold && !writer_.queued.empty()); });
      if (writer_.hold || writer_.queued.empty()) return;  // quit
      group = writer_.queued.front();
      writer_.queued.pop_front();
    }
    Status written = engine_->write_group(*group);
    {
      std::lock_guard lock(writer_.mutex);
      if (!written.is_ok()) writer_.hold = true;
      writer_.results.push_back(std::move(written));
    }
    {
      std::lock_guard lock(mutex_);
      write_finished_ = true;
    }
    wake_.notify_one();
  }
}

void Sequencer::answer(PreparedGroup& group, std::vector<PendingAppend>& waiting) {
  for (size_t i = 0; i < waiting.size(); ++i) waiting[i].done(std::move(group.outcomes[i]));
}

void Sequencer::finish_written(InFlight& in_flight, const std::vector<CommitListener>& listeners) {
  std::deque<Status> results;
  {
    std::lock_guard lock(writer_.mutex);
    results.swap(writer_.results);
  }
  for (Status& written : results) {
    std::unique_ptr<Writing> finished = std::move(in_flight.front());
    in_flight.pop_front();
    engine_->finish_group(finished->group, written);
    answer(finished->group, finished->waiting);
    // The listeners hear of the head only when it moved.
    if (written.is_ok() && !finished->group.records.empty()) {
      for (const CommitListener& listener : listeners) listener(finished->group.head);
    }
    if (written.is_ok()) continue;
    // The writer holds after a failure: what it was given after it is unwritten, and fails too.
    {
      std::lock_guard lock(writer_.mutex);
      writer_.queued.clear();
      writer_.hold = false;
    }
    while (!in_flight.empty()) {
      std::unique_ptr<Writing> unwritten = std::move(in_flight.front());
      in_flight.pop_front();
      engine_->finish_group(unwritten->group, written);
      answer(unwritten->group, unwritten->waiting);
    }
    return;  // no result can follow a failure
  }
}

void Sequencer::hand_over(InFlight& in_flight, PreparedGroup prepared,
                          std::vector<PendingAppend> waiting) {
  if (in_flight.empty() && prepared.records.empty()) {
    // Nothing to store (every request refused, or identical retries) and nothing before it
    // being written: answered now.
    engine_->finish_group(prepared, Status::ok());
    answer(prepared, waiting);
    return;
  }
  std::lock_guard lock(writer_.mutex);
  if (!writer_.queued.empty()) {
    // The last group handed over waits behind a write: one sync stores both. With many
    // connections sending one event each, groups were otherwise as small as what happened to
    // wait when the write before started.
    Writing& last = *in_flight.back();
    engine_->merge_groups(last.group, std::move(prepared));
    std::move(waiting.begin(), waiting.end(), std::back_inserter(last.waiting));
    return;
  }
  in_flight.push_back(std::make_unique<Writing>(Writing{std::move(prepared), std::move(waiting)}));
  writer_.queued.push_back(&in_flight.back()->group);
  writer_.work_signal.notify_one();
}

void Sequencer::run() {
  // The groups handed to the writer and not answered yet, oldest first.
  InFlight in_flight;
  for (;;) {
    std::vector<PendingAppend> taken;
    std::vector<CommitListener> listeners;
    bool stopping = false;
    {
      std::unique_lock lock(mutex_);
      // While groups are being written, new requests are validated into the next group, unless
      // queries wait (they must see only what is durable) or a checkpoint is due: then the
      // writes finish first.
      auto drain = [&] {
        return !in_flight.empty() && (!queries_.empty() || engine_->checkpoint_due());
      };
      wake_.wait(lock, [&] {
        if (write_finished_) return true;
        if (stopping_) return in_flight.empty();
        if (!appends_.empty() && !drain()) return true;
        return in_flight.empty() && !queries_.empty();
      });
      write_finished_ = false;
      stopping = stopping_;
      if (!stopping && !drain()) {
        taken.reserve(appends_.size());
        for (PendingAppend& pending : appends_) taken.push_back(std::move(pending));
        appends_.clear();
      }
      listeners = listeners_;
    }
    finish_written(in_flight, listeners);
    if (!taken.empty()) {
      std::vector<AppendRequest> requests;
      requests.reserve(taken.size());
      for (PendingAppend& pending : taken) requests.push_back(std::move(pending.request));
      hand_over(in_flight, engine_->prepare_group(std::move(requests)), std::move(taken));
    }
    if (!in_flight.empty()) continue;
    if (stopping) {
      // A checkpoint at the head makes the next start-up replay nothing. Failing to write one
      // only means a longer start-up: it is logged, not fatal.
      if (Status written = engine_->checkpoint(); !written.is_ok()) {
        spdlog::warn("final checkpoint not written: {}", written.to_string());
      }
      return;
    }
    // Nothing is being written: the state is the store's, and the queries see it.
    std::deque<Query> queries;
    {
      std::lock_guard lock(mutex_);
      queries.swap(queries_);
    }
    for (const Query& query : queries) query(*engine_);
  }
}

}  // namespace orgledger
