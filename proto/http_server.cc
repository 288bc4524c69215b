#include "proto/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace pgan::rpc {
namespace {

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

// The head is formatted here and written with the body: civetweb's own
// mg_printf crashed in pgan-worker's server threads (seen under gdb).
void Send(mg_connection* connection, const HttpResponse& response) {
  const std::string head =
      absl::StrCat("HTTP/1.1 ", response.status, " ", Reason(response.status),
                   "\r\nContent-Type: ", response.content_type,
                   "\r\nContent-Length: ", response.body.size(),
                   "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
  mg_write(connection, head.data(), head.size());
  mg_write(connection, response.body.data(), response.body.size());
}

// A socket that closes itself.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Waits until `fd` is ready for `events` or `deadline` passes.
absl::Status Await(int fd, short events, absl::Time deadline,
                   const std::string& url) {
  while (true) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat(url, ": no answer in time"));
    }
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, static_cast<int>(ms));
    if (n > 0) return absl::OkStatus();
    if (n < 0 && errno != EINTR) {
      return absl::UnavailableError(
          absl::StrCat(url, ": poll: ", std::strerror(errno)));
    }
  }
}

// "HOST:PORT" or "[IPv6]:PORT" into the host (brackets removed) and a port
// in 0..65535.
bool SplitHostPort(const std::string& text, std::string* host, int* port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(text.substr(colon + 1), port) || *port < 0 ||
      *port > 65535) {
    return false;
  }
  *host = text.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return !host->empty();
}

}  // namespace

HttpResponse HttpOk(std::string body) {
  HttpResponse response;
  response.body = std::move(body);
  return response;
}

HttpResponse HttpUnavailable(std::string reason) {
  HttpResponse response;
  response.status = 503;
  response.body = std::move(reason);
  if (!absl::EndsWith(response.body, "\n")) response.body += "\n";
  return response;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& listen, std::map<std::string, HttpHandler> handlers) {
  // civetweb reads what it cannot parse as an address as a bare port on
  // every interface: check the form first.
  std::string host;
  int port = -1;
  unsigned char address[sizeof(in6_addr)];
  if (!SplitHostPort(listen, &host, &port) ||
      inet_pton(listen.front() == '[' ? AF_INET6 : AF_INET, host.c_str(),
                address) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", listen, "\": expected IP:PORT (0.0.0.0:9470, [::]:9470)"));
  }
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->handlers_ = std::move(handlers);
  // civetweb keeps a process-wide reference count of its users (the
  // prometheus-cpp exposer is another).
  mg_init_library(0);
  const char* options[] = {"listening_ports",
                           listen.c_str(),
                           "num_threads",
                           "4",
                           "request_timeout_ms",
                           "10000",
                           "enable_keep_alive",
                           "no",
                           nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  // civetweb logs why a start failed through this callback; keep it quiet
  // and report the address instead.
  callbacks.log_message = [](const mg_connection*, const char*) { return 1; };
  server->context_ = mg_start(&callbacks, server.get(), options);
  if (server->context_ == nullptr) {
    mg_exit_library();
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on ", listen,
                     " (in use, or not HOST:PORT of an address of this host)"));
  }
  mg_set_request_handler(server->context_, "/", &HttpServer::Dispatch,
                         server.get());
  mg_server_port ports[4];
  const int n = mg_get_server_ports(server->context_, 4, ports);
  server->port_ = n > 0 ? ports[0].port : 0;
  return server;
}

HttpServer::~HttpServer() {
  if (context_ != nullptr) {
    mg_stop(context_);
    mg_exit_library();
  }
}

int HttpServer::Dispatch(mg_connection* connection, void* self) {
  const mg_request_info* request = mg_get_request_info(connection);
  const auto& handlers = static_cast<HttpServer*>(self)->handlers_;
  HttpResponse response;
  const auto handler = handlers.find(request->local_uri);
  if (handler == handlers.end()) {
    response.status = 404;
    response.body = absl::StrCat("no ", request->local_uri, " here\n");
  } else if (std::strcmp(request->request_method, "GET") != 0 &&
             std::strcmp(request->request_method, "HEAD") != 0) {
    response.status = 405;
    response.body = "GET only\n";
  } else {
    try {
      response = handler->second();
    } catch (const std::exception& e) {
      response.status = 500;
      response.body = absl::StrCat(e.what(), "\n");
    }
  }
  Send(connection, response);
  return response.status;
}

absl::StatusOr<HttpResponse> HttpGet(const std::string& url,
                                     absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  constexpr absl::string_view kScheme = "http://";
  if (!absl::StartsWith(url, kScheme)) {
    return absl::InvalidArgumentError(
        absl::StrCat(url, ": expected http://HOST:PORT/PATH"));
  }
  const std::string rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  const std::string path =
      slash == std::string::npos ? "/" : rest.substr(slash);
  std::string host;
  int port = 0;
  if (!SplitHostPort(authority, &host, &port) || port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(url, ": expected http://HOST:PORT/PATH"));
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(),
                                 &hints, &found);
      rc != 0) {
    return absl::UnavailableError(
        absl::StrCat(url, ": cannot resolve ", host, ": ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> addresses(found, freeaddrinfo);
  Fd fd(socket(found->ai_family,
               found->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
               found->ai_protocol));
  if (fd.get() < 0) {
    return absl::UnavailableError(
        absl::StrCat(url, ": socket: ", std::strerror(errno)));
  }
  if (connect(fd.get(), found->ai_addr, found->ai_addrlen) != 0 &&
      errno != EINPROGRESS) {
    return absl::UnavailableError(
        absl::StrCat(url, ": connect: ", std::strerror(errno)));
  }
  if (absl::Status ready = Await(fd.get(), POLLOUT, deadline, url);
      !ready.ok()) {
    return ready;
  }
  int error = 0;
  socklen_t length = sizeof(error);
  getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
  if (error != 0) {
    return absl::UnavailableError(
        absl::StrCat(url, ": connect: ", std::strerror(error)));
  }

  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: ", authority,
                   "\r\nConnection: close\r\n\r\n");
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(fd.get(), request.data() + sent,
                           request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return absl::UnavailableError(
          absl::StrCat(url, ": send: ", std::strerror(errno)));
    } else if (absl::Status ready = Await(fd.get(), POLLOUT, deadline, url);
               !ready.ok()) {
      return ready;
    }
  }
  std::string raw;
  char buffer[8192];
  while (true) {
    const ssize_t n = recv(fd.get(), buffer, sizeof(buffer), 0);
    if (n > 0) {
      raw.append(buffer, static_cast<size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EAGAIN && errno != EINTR) {
      return absl::UnavailableError(
          absl::StrCat(url, ": recv: ", std::strerror(errno)));
    } else if (absl::Status ready = Await(fd.get(), POLLIN, deadline, url);
               !ready.ok()) {
      return ready;
    }
  }

  const size_t header_end = raw.find("\r\n\r\n");
  std::vector<std::string> status_line =
      absl::StrSplit(raw.substr(0, raw.find("\r\n")), ' ');
  HttpResponse response;
  if (header_end == std::string::npos || status_line.size() < 2 ||
      !absl::StartsWith(status_line[0], "HTTP/") ||
      !absl::SimpleAtoi(status_line[1], &response.status)) {
    return absl::UnavailableError(
        absl::StrCat(url, ": the answer is not HTTP"));
  }
  response.content_type.clear();
  for (absl::string_view line :
       absl::StrSplit(raw.substr(0, header_end), "\r\n")) {
    constexpr absl::string_view kType = "content-type:";
    if (absl::StartsWithIgnoreCase(line, kType)) {
      response.content_type =
          std::string(absl::StripAsciiWhitespace(line.substr(kType.size())));
    }
  }
  response.body = raw.substr(header_end + 4);
  return response;
}

}  // namespace pgan::rpc
