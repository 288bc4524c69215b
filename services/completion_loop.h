// The coordinator's waiting RPCs (Rendezvous, StoreGet, WatchJob) on
// gRPC's async API: one thread drives their completion queue, so a call
// that waits for its gang or for its job's next event holds no thread.
// (gRPC's callback API would do the same, but in this gRPC it idles its
// own polling threads for 100 ms at a time and put that on the p99 of
// every synchronous call.) Each pending operation is an AsyncOp, its own
// tag; the loop calls Proceed when it completes.
#ifndef PGAN_SERVICES_COMPLETION_LOOP_H_
#define PGAN_SERVICES_COMPLETION_LOOP_H_

#include <grpcpp/completion_queue.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/async_unary_call.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "proto/rpc.h"

namespace pgan::services {

class CompletionLoop;

// A pending operation of an async call; the loop calls Proceed(ok) when it
// completes (ok false: the call or the server has ended). Counts itself
// live with its loop while it exists.
class AsyncOp {
 public:
  explicit AsyncOp(CompletionLoop* loop);
  virtual ~AsyncOp();
  virtual void Proceed(bool ok) = 0;

 protected:
  CompletionLoop* const loop_;
};

class CompletionLoop {
 public:
  explicit CompletionLoop(std::unique_ptr<grpc::ServerCompletionQueue> cq);
  // Stop() first.
  ~CompletionLoop();

  grpc::ServerCompletionQueue* cq() const { return cq_.get(); }
  void Start();
  // Set by Stop: ops finish instead of waiting on, and listen no more.
  bool stopping() const { return stopping_; }
  // After the server's Shutdown, and after whatever answers the calls
  // still waiting has been told to (`answer_waiting`): waits until every
  // op has ended, then shuts the queue down and joins the thread.
  void Stop(const std::function<void()>& answer_waiting);

 private:
  friend class AsyncOp;
  void Run();

  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable ended_;
  int live_ = 0;  // Ops that exist.
};

// A unary call of `Service` answered through a callback (from any
// thread, exactly once): listens for the next call when one arrives, then
// hands it to `handle`.
template <typename Service, typename Request, typename Response>
class AsyncUnaryCall final : public AsyncOp {
 public:
  using Done = std::function<void(absl::StatusOr<Response>)>;
  using Handle =
      std::function<void(grpc::ServerContext*, const Request&, Done)>;
  using RequestMethod = void (Service::*)(
      grpc::ServerContext*, Request*, grpc::ServerAsyncResponseWriter<Response>*,
      grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*);

  static void Listen(Service* service, RequestMethod method,
                     CompletionLoop* loop, Handle handle) {
    new AsyncUnaryCall(service, method, loop, std::move(handle));
  }

  void Proceed(bool ok) override {
    if (answered_ || !ok) {  // Finished, or the server is shutting down.
      delete this;
      return;
    }
    answered_ = true;
    if (!loop_->stopping()) Listen(service_, method_, loop_, handle_);
    handle_(&context_, request_, [this](absl::StatusOr<Response> result) {
      if (result.ok()) {
        response_ = *std::move(result);
        responder_.Finish(response_, grpc::Status::OK, this);
      } else {
        responder_.FinishWithError(rpc::ToGrpc(result.status()), this);
      }
    });
  }

 private:
  AsyncUnaryCall(Service* service, RequestMethod method, CompletionLoop* loop,
                 Handle handle)
      : AsyncOp(loop),
        service_(service),
        method_(method),
        handle_(std::move(handle)),
        responder_(&context_) {
    (service_->*method_)(&context_, &request_, &responder_, loop->cq(),
                         loop->cq(), this);
  }

  Service* const service_;
  const RequestMethod method_;
  const Handle handle_;
  grpc::ServerContext context_;
  Request request_;
  Response response_;
  grpc::ServerAsyncResponseWriter<Response> responder_;
  bool answered_ = false;
};

}  // namespace pgan::services

#endif  // PGAN_SERVICES_COMPLETION_LOOP_H_
