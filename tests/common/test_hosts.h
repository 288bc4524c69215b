// Hosts for integration tests on one machine: Linux network namespaces, each
// with a veth pair on one bridge and a link-local address
// (169.254.N.<i + 1>/24), made by the test and removed with it. Traffic
// between them crosses real interfaces, so a link can be cut without a
// reset reaching anyone. Needs root and iproute2; Unavailable() says why
// not, for GTEST_SKIP. Not for production code.
#ifndef PGAN_TESTS_COMMON_TEST_HOSTS_H_
#define PGAN_TESTS_COMMON_TEST_HOSTS_H_

#include <sys/types.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/common/subprocess.h"

namespace pgan::testing {

class TestHosts {
 public:
  // Why hosts cannot be made here; empty when they can.
  static std::string Unavailable() {
    if (::geteuid() != 0) return "needs root (network namespaces)";
    const CommandResult ip = RunCommand("command -v ip");
    if (ip.exit_code != 0) return "needs iproute2 (ip)";
    const CommandResult list = RunCommand("ip netns list");
    if (list.exit_code != 0)
      return "ip netns does not work here: " + list.output;
    return "";
  }

  explicit TestHosts(int count) {
    ip_ = std::string(
        absl::StripAsciiWhitespace(RunCommand("command -v ip").output));
    const int tag = static_cast<int>(::getpid() % 100000);
    subnet_ = absl::StrCat("169.254.", 1 + tag % 250, ".");
    bridge_ = absl::StrCat("pgb", tag);
    Step(absl::StrCat(ip_, " link add ", bridge_, " type bridge"));
    Step(absl::StrCat(ip_, " link set ", bridge_, " up"));
    for (int i = 0; i < count && error_.empty(); ++i) {
      const std::string ns = absl::StrCat("pgan-", tag, "-", i);
      const std::string veth = absl::StrCat("pgv", tag, "h", i);
      namespaces_.push_back(ns);
      veths_.push_back(veth);
      Step(absl::StrCat(ip_, " netns add ", ns));
      Step(absl::StrCat(ip_, " link add ", veth,
                        " type veth peer name eth0 netns ", ns));
      Step(absl::StrCat(ip_, " link set ", veth, " master ", bridge_, " up"));
      Step(absl::StrCat(ip_, " -n ", ns, " addr add ", address(i),
                        "/24 dev eth0"));
      Step(absl::StrCat(ip_, " -n ", ns, " link set eth0 up"));
      Step(absl::StrCat(ip_, " -n ", ns, " link set lo up"));
    }
  }

  ~TestHosts() {
    for (const std::string& ns : namespaces_) {
      RunCommand(absl::StrCat(ip_, " netns del ", ns));  // Its veth goes too.
    }
    RunCommand(absl::StrCat(ip_, " link del ", bridge_));
  }
  TestHosts(const TestHosts&) = delete;
  TestHosts& operator=(const TestHosts&) = delete;

  // The first step that failed, with its output; empty when all worked.
  const std::string& error() const { return error_; }
  std::string address(int i) const { return absl::StrCat(subnet_, i + 1); }

  // `argv` (argv[0] a path) run on host i, for Spawn.
  std::vector<std::string> On(int i, std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {ip_, "netns", "exec", namespaces_.at(i)});
    return argv;
  }
  // A shell command's prefix that runs the rest on host i.
  std::string ShellOn(int i) const {
    return absl::StrCat(ip_, " netns exec ", namespaces_.at(i), " ");
  }

  // Host i's link down on the bridge side: its packets are dropped, no
  // reset is sent; and back up.
  void CutLink(int i) {
    Step(absl::StrCat(ip_, " link set ", veths_.at(i), " down"));
  }
  void HealLink(int i) {
    Step(absl::StrCat(ip_, " link set ", veths_.at(i), " up"));
  }

  // Host i stops answering host `peer` (its packets to it are dropped,
  // silently) while both keep talking to every other host; and heals.
  void Partition(int i, int peer) {
    Step(absl::StrCat(ShellOn(i), ip_, " route add blackhole ", address(peer)));
  }
  void Unpartition(int i, int peer) {
    Step(absl::StrCat(ShellOn(i), ip_, " route del blackhole ", address(peer)));
  }

  // tc netem on host i's link (`netem` as tc takes it: "delay 50ms loss
  // 2%"); empty "" clears it. Why not, when the kernel lacks sch_netem.
  std::string Impair(int i, const std::string& netem) {
    const CommandResult result = RunCommand(
        netem.empty()
            ? absl::StrCat(ShellOn(i), "tc qdisc del dev eth0 root")
            : absl::StrCat(ShellOn(i), "tc qdisc add dev eth0 root netem ",
                           netem));
    return result.exit_code == 0 ? "" : result.output;
  }

  // Every process on host i (all of a host, as a power cut takes them).
  std::vector<pid_t> Pids(int i) const {
    std::vector<pid_t> pids;
    const CommandResult result =
        RunCommand(absl::StrCat(ip_, " netns pids ", namespaces_.at(i)));
    for (absl::string_view line : absl::StrSplit(result.output, '\n')) {
      int pid = 0;
      if (absl::SimpleAtoi(line, &pid) && pid > 0) pids.push_back(pid);
    }
    return pids;
  }

 private:
  void Step(const std::string& command) {
    if (!error_.empty()) return;
    const CommandResult result = RunCommand(command);
    if (result.exit_code != 0) {
      error_ = absl::StrCat(command, ": ", result.output);
    }
  }

  std::string ip_, subnet_, bridge_, error_;
  std::vector<std::string> namespaces_, veths_;
};

}  // namespace pgan::testing

#endif  // PGAN_TESTS_COMMON_TEST_HOSTS_H_
