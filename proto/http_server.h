// The plain-HTTP side of pgan's processes: /metrics for Prometheus and the
// health endpoints that Kubernetes probes and Docker health checks call
// (/healthz: the process is alive; /readyz: it can do its work). One small
// embedded server (civetweb, which prometheus-cpp already brings) serves all
// of a process's paths on one port, and HttpGet is the client of
// pgan-healthcheck and the tests.
#ifndef PGAN_PROTO_HTTP_SERVER_H_
#define PGAN_PROTO_HTTP_SERVER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

struct mg_connection;
struct mg_context;

namespace pgan::rpc {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  HttpHeaders headers;  // More of them (Content-Type and -Length are set).
};

// Called on one of the server's threads for a GET of its path; must be
// thread-safe and quick (a probe has a deadline of a second or so).
using HttpHandler = std::function<HttpResponse()>;

// A request as a router sees it.
struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // Percent-decoded, without the query.
  std::string query;   // As sent, without the '?'.
  std::map<std::string, std::string> headers;  // Names in lower case.
  std::string body;
  // The header's value; nullopt when it was not sent.
  std::optional<std::string> Header(const std::string& lower_name) const;
  // Every value of query parameter `name`, decoded, in order.
  std::vector<std::string> QueryValues(absl::string_view name) const;
};

// The answer to one request: either Send() once, or Begin() and then
// Write() the body as it comes (an event stream, a large file).
class HttpResponder {
 public:
  virtual ~HttpResponder() = default;
  virtual void Send(const HttpResponse& response) = 0;
  // The head of a streamed response; with content_length -1 the body ends
  // when the handler returns (the connection closes). False: the client
  // has gone.
  virtual bool Begin(int status, const std::string& content_type,
                     const HttpHeaders& headers,
                     int64_t content_length = -1) = 0;
  virtual bool Write(absl::string_view data) = 0;
};

// Called on one of the server's threads for every request; must be
// thread-safe. A handler that streams holds its thread while it does.
using HttpRouter = std::function<void(const HttpRequest&, HttpResponder&)>;

struct HttpServerOptions {
  int threads = 4;
  // Bodies longer than this are answered 413 without being read (0: no
  // body is accepted).
  int64_t max_body_bytes = 0;
  // Headers of every response (a Content-Security-Policy, say).
  HttpHeaders headers;
};

// Two common answers: 200 with `body`, and 503 (Service Unavailable) with
// the reason.
HttpResponse HttpOk(std::string body = "ok\n");
HttpResponse HttpUnavailable(std::string reason);

class HttpServer {
 public:
  // Serves `handlers` (by exact path; any other path is 404, any other
  // method 405) on `listen`, "IP:PORT" or "[IPv6]:PORT" (port 0: any free
  // one). A malformed address is INVALID_ARGUMENT, one that cannot be bound
  // UNAVAILABLE, both naming it.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const std::string& listen, std::map<std::string, HttpHandler> handlers);
  // Serves every request through `router`.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const std::string& listen, HttpRouter router, HttpServerOptions options);
  // Stops serving; waits for requests in flight.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }

 private:
  HttpServer() = default;
  static int Dispatch(::mg_connection* connection, void* self);

  HttpRouter router_;
  HttpServerOptions options_;
  mg_context* context_ = nullptr;
  int port_ = 0;
};

// GETs `url` ("http://HOST:PORT/PATH"; no TLS, no redirects) within
// `timeout`. Any HTTP status is a response; a malformed URL is
// INVALID_ARGUMENT and a connection that fails or times out UNAVAILABLE or
// DEADLINE_EXCEEDED, each naming the URL.
absl::StatusOr<HttpResponse> HttpGet(const std::string& url,
                                     absl::Duration timeout);

// Any request, as HttpGet. `on_body`, when given, takes the body as it
// arrives instead of the response's `body` (false: stop reading, and the
// call returns the response so far): for event streams.
struct HttpClientRequest {
  std::string method = "GET";
  std::string url;
  HttpHeaders headers;
  std::string body;
  std::function<bool(absl::string_view)> on_body;
};
absl::StatusOr<HttpResponse> HttpFetch(const HttpClientRequest& request,
                                       absl::Duration timeout);

}  // namespace pgan::rpc

#endif  // PGAN_PROTO_HTTP_SERVER_H_
