#include "services/completion_loop.h"

#include <utility>

namespace pgan::services {

AsyncOp::AsyncOp(CompletionLoop* loop) : loop_(loop) {
  std::lock_guard<std::mutex> lock(loop_->mu_);
  ++loop_->live_;
}

AsyncOp::~AsyncOp() {
  std::lock_guard<std::mutex> lock(loop_->mu_);
  if (--loop_->live_ == 0) loop_->ended_.notify_all();
}

CompletionLoop::CompletionLoop(std::unique_ptr<grpc::ServerCompletionQueue> cq)
    : cq_(std::move(cq)) {}

CompletionLoop::~CompletionLoop() {
  if (thread_.joinable()) Stop([] {});
}

void CompletionLoop::Start() {
  thread_ = std::thread([this] { Run(); });
}

void CompletionLoop::Run() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_->Next(&tag, &ok)) static_cast<AsyncOp*>(tag)->Proceed(ok);
}

void CompletionLoop::Stop(const std::function<void()>& answer_waiting) {
  stopping_ = true;
  answer_waiting();
  {
    std::unique_lock<std::mutex> lock(mu_);
    ended_.wait(lock, [this] { return live_ == 0; });
  }
  cq_->Shutdown();
  if (thread_.joinable()) thread_.join();
}

}  // namespace pgan::services
