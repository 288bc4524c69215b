// deploy/ against the real thing: Debian's Prometheus server scrapes a
// pgan-coordinator (every second, with deploy/prometheus/prometheus.yml's
// scrape job) while pool workers train a small job; then every PromQL
// expression of deploy/grafana/pgan-dashboard.json, its Grafana variables
// substituted as Grafana would, goes through Prometheus's HTTP API over the
// test's time window and must return data. The job variable's
// label_values(...) query must find the job. promtool must accept
// deploy/prometheus/prometheus.yml as it is.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/file_util.h"
#include "common/image_io.h"
#include "pgan/v1/job.pb.h"
#include "services/auth.h"
#include "tests/common/subprocess.h"
#include "tests/common/test_dir.h"

namespace pgan::services {
namespace {

namespace fs = std::filesystem;
using ::nlohmann::json;
using ::pgan::testing::RunCommand;
using ::pgan::testing::Spawn;
using ::pgan::testing::StopProcess;
using ::pgan::testing::TestDir;
using ::pgan::testing::WaitFor;

constexpr char kDashboard[] =
    PGAN_SOURCE_DIR "/deploy/grafana/pgan-dashboard.json";
constexpr char kPrometheusConfig[] =
    PGAN_SOURCE_DIR "/deploy/prometheus/prometheus.yml";
// The static target of deploy/prometheus/prometheus.yml, replaced by the
// test's coordinator.
constexpr char kPlaceholderTarget[] = "pgan-coordinator.example.internal:9470";
// The test's scrape interval, and what Grafana makes of $__interval and
// $__rate_interval for a 1 s step: max($__interval + scrape, 4 * scrape).
constexpr int kScrapeSeconds = 1;
constexpr int kStepSeconds = 1;
constexpr int kRateIntervalSeconds =
    std::max(kStepSeconds + kScrapeSeconds, 4 * kScrapeSeconds);

// A loopback port that was free a moment ago: bound to 127.0.0.1:0, read
// back, closed. Another process may take it before Prometheus does.
int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t size = sizeof(address);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

struct HttpResponse {
  long status = 0;  // 0: no response (the error is in `body`).
  std::string body;
};

size_t AppendBody(char* data, size_t size, size_t n, void* body) {
  static_cast<std::string*>(body)->append(data, size * n);
  return size * n;
}

// GET http://127.0.0.1:port<path_and_query>, never through a proxy.
HttpResponse HttpGet(int port, const std::string& path_and_query) {
  HttpResponse response;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    response.body = "curl_easy_init failed";
    return response;
  }
  const std::string url =
      absl::StrCat("http://127.0.0.1:", port, path_and_query);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  const CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  } else {
    response.body = curl_easy_strerror(code);
  }
  curl_easy_cleanup(curl);
  return response;
}

std::string UrlEncode(const std::string& text) {
  std::string encoded;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      encoded += static_cast<char>(c);
    } else {
      absl::StrAppend(&encoded, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return encoded;
}

// A PromQL expression of the dashboard and where it comes from.
struct DashboardQuery {
  std::string panel;  // Title, with the titles of enclosing rows.
  std::string ref_id;
  std::string expr;
};

// Every panel target's expr, rows' nested panels included. Also checks that
// every panel and target takes its data source from ${datasource} and that
// every panel that shows data has a query.
void CollectQueries(const json& panels, const std::string& parent,
                    std::vector<DashboardQuery>* queries) {
  for (const json& panel : panels) {
    const std::string title =
        parent + panel.value("title", std::string("(untitled)"));
    const std::string type = panel.value("type", std::string());
    if (panel.contains("datasource") && panel["datasource"].is_object()) {
      EXPECT_EQ(panel["datasource"].value("uid", std::string()),
                "${datasource}")
          << "panel \"" << title << "\"";
    }
    int exprs = 0;
    if (panel.contains("targets")) {
      for (const json& target : panel["targets"]) {
        if (target.contains("datasource") && target["datasource"].is_object()) {
          EXPECT_EQ(target["datasource"].value("uid", std::string()),
                    "${datasource}")
              << "panel \"" << title << "\" target "
              << target.value("refId", std::string());
        }
        if (target.value("hide", false)) continue;
        const std::string expr = target.value("expr", std::string());
        EXPECT_FALSE(expr.empty())
            << "panel \"" << title << "\" target "
            << target.value("refId", std::string()) << " has no expr";
        if (expr.empty()) continue;
        queries->push_back({title, target.value("refId", std::string()), expr});
        ++exprs;
      }
    }
    if (type != "row" && type != "text") {
      EXPECT_GT(exprs, 0) << "panel \"" << title << "\" has no query";
    }
    if (panel.contains("panels")) {
      CollectQueries(panel["panels"], title + " / ", queries);
    }
  }
}

// Replaces Grafana's variables ($name, ${name}, ${name:format}) from
// `values`; returns false (and the unknown name) for any other.
bool Substitute(const std::string& expr,
                const std::map<std::string, std::string>& values,
                std::string* out, std::string* unknown) {
  static const std::regex kVariable(
      R"(\$\{([A-Za-z0-9_]+)(?::[A-Za-z0-9_]+)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)\]\])");
  out->clear();
  auto last = expr.cbegin();
  for (std::sregex_iterator it(expr.begin(), expr.end(), kVariable), end;
       it != end; ++it) {
    const std::smatch& m = *it;
    const std::string name =
        m[1].matched ? m[1].str() : (m[2].matched ? m[2].str() : m[3].str());
    const auto value = values.find(name);
    if (value == values.end()) {
      *unknown = name;
      return false;
    }
    out->append(last, m[0].first);
    out->append(value->second);
    last = m[0].second;
  }
  out->append(last, expr.cend());
  return true;
}

// Why a /api/v1/query_range answer is not data; "" when it has at least one
// finite sample. `series` and `points` count what came back.
std::string CheckRangeAnswer(const HttpResponse& response, int* series,
                             int* points) {
  *series = 0;
  *points = 0;
  if (response.status == 0) return "no answer: " + response.body;
  const json answer = json::parse(response.body, nullptr, false);
  if (answer.is_discarded()) {
    return absl::StrCat("HTTP ", response.status,
                        ", not JSON: ", response.body.substr(0, 500));
  }
  if (answer.value("status", std::string()) != "success") {
    return absl::StrCat("HTTP ", response.status, ", ",
                        answer.value("errorType", std::string()), ": ",
                        answer.value("error", std::string()));
  }
  const json& result = answer["data"]["result"];
  if (!result.is_array() || result.empty()) return "empty result";
  int finite = 0;
  for (const json& s : result) {
    ++*series;
    if (!s.contains("values")) continue;
    for (const json& point : s["values"]) {
      ++*points;
      double value = 0;
      if (absl::SimpleAtod(point[1].get<std::string>(), &value) &&
          std::isfinite(value)) {
        ++finite;
      }
    }
  }
  if (finite == 0) {
    return absl::StrCat(*series, " series, ", *points,
                        " samples, none finite (NaN/Inf only)");
  }
  return "";
}

class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // 64 random 32x32 RGB images: the dataset, as a folder.
    data_ = dir_.file("data/images");
    fs::create_directories(data_);
    std::mt19937 random(7);
    for (int i = 0; i < 64; ++i) {
      Image image{32, 32, 3, std::vector<uint8_t>(32 * 32 * 3)};
      for (uint8_t& p : image.pixels) p = static_cast<uint8_t>(random());
      ASSERT_TRUE(WritePng(absl::StrCat(data_, "/img", i, ".png"), image).ok());
    }
    ASSERT_TRUE(WriteFileAtomically(dir_.file("tokens.txt"),
                                    "alice user " + Sha256Hex("alice-token") +
                                        "\nw worker " +
                                        Sha256Hex("worker-token") + "\n")
                    .ok());
  }

  void TearDown() override {
    StopProcess(prometheus_, std::chrono::seconds(10));
    for (pid_t& pid : workers_) StopProcess(pid, std::chrono::seconds(5));
    StopProcess(coordinator_, std::chrono::seconds(5));
    if (HasFailure()) {
      for (const auto& entry : fs::directory_iterator(dir_.path())) {
        if (entry.path().extension() != ".log") continue;
        std::string text = ReadFile(entry.path().string()).value_or("");
        if (text.size() > 8000) text = "..." + text.substr(text.size() - 8000);
        std::cerr << "==> " << entry.path() << "\n" << text << "\n";
      }
    }
  }

  // On 127.0.0.1, any free port; /metrics on any free port too. Both read
  // back: --port-file, and the "/metrics on port N" line of its log.
  void StartCoordinator() {
    const std::string port_file = dir_.file("port");
    const std::string log = dir_.file("coordinator.log");
    coordinator_ = Spawn(
        {PGAN_COORDINATOR, "--listen", "127.0.0.1:0", "--port-file", port_file,
         "--state", dir_.file("state.db"), "--tokens", dir_.file("tokens.txt"),
         "--data-root", dir_.file("data"), "--storage", dir_.file("storage"),
         "--metrics-listen", "127.0.0.1:0"},
        log);
    WaitFor(std::chrono::seconds(20), [&] {
      int read = 0;
      auto text = ReadFile(port_file);
      if (text.ok() &&
          absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &read)) {
        port_ = read;
      }
      const std::string out = ReadFile(log).value_or("");
      const size_t at = out.find("/metrics on port ");
      if (at != std::string::npos) {
        const size_t from = at + std::string("/metrics on port ").size();
        absl::SimpleAtoi(out.substr(from, out.find('\n', from) - from),
                         &metrics_port_);
      }
      return port_ > 0 && metrics_port_ > 0;
    });
    ASSERT_GT(port_, 0) << "pgan-coordinator did not start";
    ASSERT_GT(metrics_port_, 0) << "pgan-coordinator serves no /metrics";
  }

  // deploy/prometheus/prometheus.yml with its static target replaced by the
  // coordinator's /metrics and every interval (and the timeout) 1 s.
  std::string WritePrometheusConfig() {
    auto deployed = ReadFile(kPrometheusConfig);
    EXPECT_TRUE(deployed.ok()) << deployed.status();
    std::string config = deployed.value_or("");
    EXPECT_NE(config.find(kPlaceholderTarget), std::string::npos)
        << kPrometheusConfig << " no longer has the target "
        << kPlaceholderTarget << " this test replaces";
    config = absl::StrReplaceAll(
        config,
        {{kPlaceholderTarget, absl::StrCat("127.0.0.1:", metrics_port_)}});
    static const std::regex kInterval(
        R"((scrape_interval|evaluation_interval|scrape_timeout):[ \t]*\S+)");
    config = std::regex_replace(config, kInterval,
                                absl::StrCat("$1: ", kScrapeSeconds, "s"));
    const std::string path = dir_.file("prometheus.yml");
    EXPECT_TRUE(WriteFileAtomically(path, config).ok());
    return path;
  }

  // Debian's Prometheus on a free loopback port (chosen here: Prometheus
  // cannot report a port-0 choice), its TSDB in the test's directory. A
  // port taken meanwhile by someone else: once more on another.
  void StartPrometheus(const std::string& config) {
    ASSERT_TRUE(fs::exists(PGAN_PROMETHEUS))
        << PGAN_PROMETHEUS << " is missing: apt-get install prometheus "
        << "(tools/dev.sh installs it)";
    for (int attempt = 0; attempt < 2; ++attempt) {
      prometheus_port_ = FreeLoopbackPort();
      ASSERT_GT(prometheus_port_, 0);
      const std::string log = dir_.file("prometheus.log");
      prometheus_ = Spawn(
          {PGAN_PROMETHEUS, "--config.file=" + config,
           "--storage.tsdb.path=" + dir_.file("tsdb"),
           absl::StrCat("--web.listen-address=127.0.0.1:", prometheus_port_),
           "--log.level=info"},
          log);
      bool exited = false;
      const bool ready = WaitFor(std::chrono::seconds(60), [&] {
        if (::waitpid(prometheus_, nullptr, WNOHANG) == prometheus_) {
          exited = true;
          return true;
        }
        return HttpGet(prometheus_port_, "/-/ready").status == 200;
      });
      if (ready && !exited) return;
      if (exited) {
        prometheus_ = -1;
      } else {
        StopProcess(prometheus_, std::chrono::seconds(5));
      }
      const std::string text = ReadFile(log).value_or("");
      if (attempt == 0 &&
          text.find("address already in use") != std::string::npos) {
        std::cout << "port " << prometheus_port_
                  << " was taken meanwhile; another\n";
        continue;
      }
      FAIL() << "prometheus did not become ready on 127.0.0.1:"
             << prometheus_port_;
    }
  }

  void StartWorker() {
    const int n = static_cast<int>(workers_.size());
    workers_.push_back(Spawn(
        {PGAN_WORKER, "--coordinator", absl::StrCat("127.0.0.1:", port_),
         "--hostname", "127.0.0.1", "--cpu-slots", "1", "--comm-timeout", "30"},
        dir_.file(absl::StrCat("worker-", n, ".log")),
        {"PGAN_TOKEN=worker-token"}));
  }

  testing::CommandResult Pgan(const std::string& args) {
    return RunCommand(absl::StrCat(
        "PGAN_TOKEN=alice-token PGAN_COORDINATOR=127.0.0.1:", port_, " ",
        PGAN_BINARY, " ", args));
  }

  // A 2-worker job of `iterations` iterations of batch 4, a tick every 2
  // and a snapshot every 2 ticks, with a quality metric (the feature
  // network's FD of 64 images) at every snapshot.
  std::string Submit(int iterations) {
    const std::string metrics = R"( "metrics": ["fd64_full"],)";
    const std::string spec = dir_.file("job.json");
    EXPECT_TRUE(
        WriteFileAtomically(
            spec, absl::StrCat(
                      R"({"name": "dashboard", "resources": {"workers": 2},)",
                      R"( "training": {"model": {"cfg": "fastgan_lite",)",
                      R"( "resolution": 32, "ngf": 8}, "data": ")", data_,
                      R"(", "batch": 4, "kimg": )", iterations * 0.004,
                      R"(, "tick": 0.008, "snap": 2, "threads": 1,)", metrics,
                      R"( "grid_width": 2, "grid_height": 1}})"))
            .ok());
    auto submitted = Pgan("submit " + spec);
    EXPECT_EQ(submitted.exit_code, 0) << submitted.output;
    EXPECT_EQ(submitted.output.rfind("submitted job-", 0), 0u)
        << submitted.output;
    return submitted.output.size() >= 30 ? submitted.output.substr(10, 20) : "";
  }

  // /api/v1/query at the latest time; its result, or null on an error.
  json InstantQuery(const std::string& query) {
    const HttpResponse response =
        HttpGet(prometheus_port_, "/api/v1/query?query=" + UrlEncode(query));
    const json answer = json::parse(response.body, nullptr, false);
    if (answer.is_discarded() ||
        answer.value("status", std::string()) != "success") {
      return nullptr;
    }
    return answer["data"]["result"];
  }

  TestDir dir_;
  std::string data_;
  pid_t coordinator_ = -1;
  pid_t prometheus_ = -1;
  std::vector<pid_t> workers_;
  int port_ = 0;
  int metrics_port_ = 0;
  int prometheus_port_ = 0;
};

TEST(PrometheusConfigTest, PromtoolChecksTheDeployedConfig) {
  ASSERT_TRUE(fs::exists(PGAN_PROMTOOL))
      << PGAN_PROMTOOL << " is missing: apt-get install prometheus";
  auto checked = RunCommand(
      absl::StrCat(PGAN_PROMTOOL, " check config ", kPrometheusConfig));
  EXPECT_EQ(checked.exit_code, 0) << checked.output;
}

TEST_F(DashboardTest, EveryPanelQueryReturnsDataFromARealJob) {
  const absl::Time test_start = absl::Now();
  // The dashboard first: a broken file fails before anything starts.
  auto text = ReadFile(kDashboard);
  ASSERT_TRUE(text.ok()) << text.status();
  const json dashboard = json::parse(*text, nullptr, false);
  ASSERT_FALSE(dashboard.is_discarded()) << kDashboard << " is not JSON";
  EXPECT_GE(dashboard.value("schemaVersion", 0), 36);
  std::vector<DashboardQuery> queries;
  ASSERT_TRUE(dashboard.contains("panels"));
  CollectQueries(dashboard["panels"], "", &queries);
  ASSERT_FALSE(queries.empty());
  std::vector<json> variable_queries;
  bool has_datasource_variable = false;
  for (const json& variable : dashboard["templating"]["list"]) {
    const std::string type = variable.value("type", std::string());
    if (type == "datasource") {
      has_datasource_variable |=
          variable.value("name", std::string()) == "datasource" &&
          variable.value("query", std::string()) == "prometheus";
    } else if (type == "query") {
      EXPECT_EQ(variable["datasource"].value("uid", std::string()),
                "${datasource}");
      variable_queries.push_back(variable);
    }
  }
  EXPECT_TRUE(has_datasource_variable)
      << "no datasource variable of type prometheus";
  ASSERT_FALSE(variable_queries.empty()) << "no job variable";

  StartCoordinator();
  const std::string config = WritePrometheusConfig();
  StartPrometheus(config);
  if (HasFatalFailure()) return;
  StartWorker();
  StartWorker();
  // Prometheus scrapes the coordinator before the job starts.
  ASSERT_TRUE(WaitFor(std::chrono::seconds(30), [&] {
    const json up = InstantQuery("up");
    return up.is_array() && !up.empty() && up[0]["value"][1] == "1";
  })) << "prometheus does not scrape the coordinator";
  const absl::Time window_start = absl::Now();

  const std::string id = Submit(4);
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(std::regex_match(id, std::regex("[A-Za-z0-9_-]+"))) << id;
  const absl::Time submitted = absl::Now();
  auto watched = Pgan("watch " + id);
  EXPECT_EQ(watched.exit_code, 0) << watched.output;
  ASSERT_NE(watched.output.find("succeeded"), std::string::npos)
      << watched.output;
  const absl::Duration ran = absl::Now() - submitted;
  std::cout << watched.output;
  // The metric is in the watch, in the job's plot and picks the best
  // snapshot.
  EXPECT_NE(watched.output.find("fd64_full_efficientnet_lite0"),
            std::string::npos)
      << watched.output;
  auto plotted = Pgan(absl::StrCat("plot ", id, " -o ", dir_.file("job.png")));
  EXPECT_EQ(plotted.exit_code, 0) << plotted.output;
  EXPECT_TRUE(std::filesystem::exists(dir_.file("job.png"))) << plotted.output;
  auto best = Pgan(absl::StrCat("download ", id, " --snapshot best -o ",
                                dir_.file("best.safetensors")));
  EXPECT_EQ(best.exit_code, 0) << best.output;
  EXPECT_TRUE(std::filesystem::exists(dir_.file("best.safetensors")))
      << best.output;
  // Until Prometheus has seen the job end, and two scrapes more.
  ASSERT_TRUE(WaitFor(std::chrono::seconds(30), [&] {
    const json done = InstantQuery(R"(pgan_jobs{state="succeeded"} == 1)");
    return done.is_array() && !done.empty();
  })) << "prometheus did not see the job succeed";
  absl::SleepFor(absl::Seconds(2 * kScrapeSeconds));
  const absl::Time window_end = absl::Now();
  const int64_t start = absl::ToUnixSeconds(window_start) - 1;
  const int64_t end = absl::ToUnixSeconds(window_end) + 1;
  std::cout << "job " << id << " ran " << absl::FormatDuration(ran)
            << "; querying " << (end - start) << " s at a " << kStepSeconds
            << " s step\n";

  // The job variable: label_values(metric, label) or label_values(label).
  static const std::regex kLabelValues(
      R"(^\s*label_values\(\s*(?:(.*\S)\s*,\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$)");
  for (const json& variable : variable_queries) {
    const json& q = variable["query"];
    const std::string query =
        q.is_string() ? q.get<std::string>() : q.value("query", std::string());
    std::smatch m;
    ASSERT_TRUE(std::regex_match(query, m, kLabelValues))
        << "variable " << variable.value("name", std::string())
        << ": not label_values(...): " << query;
    std::string path = absl::StrCat("/api/v1/label/", m[2].str(),
                                    "/values?start=", start, "&end=", end);
    if (m[1].matched)
      absl::StrAppend(&path, "&match[]=", UrlEncode(m[1].str()));
    const HttpResponse response = HttpGet(prometheus_port_, path);
    const json answer = json::parse(response.body, nullptr, false);
    ASSERT_FALSE(answer.is_discarded()) << response.body;
    EXPECT_EQ(answer.value("status", std::string()), "success")
        << response.body;
    bool found = false;
    for (const json& value : answer["data"]) found |= value == id;
    EXPECT_TRUE(found) << "variable " << variable.value("name", std::string())
                       << " (" << query << ") does not list " << id << ": "
                       << response.body;
    std::cout << "variable " << variable.value("name", std::string()) << " ("
              << query << "): " << (found ? "lists the job" : "NO JOB") << "\n";
  }

  // Every panel query over the window, as Grafana would send it.
  const std::map<std::string, std::string> variables = {
      {"job", id},
      {"__rate_interval", absl::StrCat(kRateIntervalSeconds, "s")},
      {"__interval", absl::StrCat(kStepSeconds, "s")},
      {"__interval_ms", absl::StrCat(kStepSeconds * 1000)},
      {"__range", absl::StrCat(end - start, "s")},
      {"__range_s", absl::StrCat(end - start)},
      {"__range_ms", absl::StrCat((end - start) * 1000)},
  };
  int with_data = 0;
  for (const DashboardQuery& query : queries) {
    std::string expr, unknown;
    if (!Substitute(query.expr, variables, &expr, &unknown)) {
      ADD_FAILURE() << "panel \"" << query.panel << "\" " << query.ref_id
                    << ": unknown variable $" << unknown << " in "
                    << query.expr;
      continue;
    }
    const HttpResponse response = HttpGet(
        prometheus_port_,
        absl::StrCat("/api/v1/query_range?query=", UrlEncode(expr),
                     "&start=", start, "&end=", end, "&step=", kStepSeconds));
    int series = 0, points = 0;
    const std::string problem = CheckRangeAnswer(response, &series, &points);
    if (problem.empty()) ++with_data;
    std::cout << (problem.empty() ? "data  " : "NONE  ") << "\"" << query.panel
              << "\" " << query.ref_id << ": " << expr << "  -> "
              << (problem.empty()
                      ? absl::StrCat(series, " series, ", points, " samples")
                      : problem)
              << "\n";
    EXPECT_TRUE(problem.empty())
        << "panel \"" << query.panel << "\" " << query.ref_id << ": " << expr
        << ": " << problem;
  }
  std::cout << with_data << " of " << queries.size()
            << " dashboard queries returned data; the test took "
            << absl::FormatDuration(absl::Now() - test_start) << "\n";
}

}  // namespace
}  // namespace pgan::services
