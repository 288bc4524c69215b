// pgan-healthcheck URL: exits 0 when a GET of URL answers 2xx within
// --timeout, 1 otherwise, saying why on stderr. The HEALTHCHECK of pgan's
// container images (which carry no curl) and a probe for scripts:
//   pgan-healthcheck http://127.0.0.1:9470/readyz
#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "proto/http_server.h"

int main(int argc, char** argv) {
  CLI::App app{"pgan-healthcheck: exit 0 when a GET of URL answers 2xx"};
  std::string url;
  double timeout_s = 5;
  app.add_option("url", url, "http://HOST:PORT/PATH")->required();
  app.add_option("--timeout", timeout_s, "Seconds to wait for the answer")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!(timeout_s > 0)) {
    std::cerr << "pgan-healthcheck: --timeout: expected seconds > 0\n";
    return 2;
  }
  const absl::StatusOr<pgan::rpc::HttpResponse> response =
      pgan::rpc::HttpGet(url, absl::Seconds(timeout_s));
  if (!response.ok()) {
    std::cerr << "pgan-healthcheck: " << response.status().message() << "\n";
    return 1;
  }
  if (response->status < 200 || response->status > 299) {
    std::cerr << "pgan-healthcheck: " << url << ": HTTP " << response->status
              << ": " << response->body;
    return 1;
  }
  std::cout << response->body;
  return 0;
}
