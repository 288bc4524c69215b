// mpirun across hosts: two network namespaces (tests/common/test_hosts.h),
// mpirun on host 0, and as its rsh agent a script that runs the remote
// command on the host named, with `ip netns exec` (and, for host 1, a UTS
// namespace with a host name of its own). The ranks talk over TCP
// between the hosts' addresses (shared memory is left out), and run the MPI
// backend's own tests (mpi_communicator_test, whose main fails every rank
// when any fails). Skipped, with the reason, without root.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "tests/common/subprocess.h"
#include "tests/common/test_dir.h"
#include "tests/common/test_hosts.h"

namespace pgan::comm {
namespace {

using ::pgan::testing::RunCommand;
using ::pgan::testing::TestDir;
using ::pgan::testing::TestHosts;

TEST(MpiHostsTest, AnMpirunGangAcrossTwoHostsPassesTheBackendsTests) {
  if (const std::string why = TestHosts::Unavailable(); !why.empty()) {
    GTEST_SKIP() << "no test hosts: " << why;
  }
  TestHosts hosts(2);
  if (!hosts.error().empty())
    GTEST_SKIP() << "no test hosts: " << hosts.error();
  TestDir dir;
  const std::string agent = dir.file("netns-rsh"), calls = dir.file("calls");
  ASSERT_TRUE(
      WriteFileAtomically(
          agent, absl::StrCat(
                     "#!/bin/sh\n"
                     "# Open MPI's rsh agent: HOST COMMAND..., run on HOST.\n"
                     "host=\"$1\"; shift\n"
                     "echo \"$host\" >> ",
                     calls, "\n", "case \"$host\" in\n", "  ", hosts.address(0),
                     ") exec ", hosts.ShellOn(0), "/bin/sh -c \"$*\" ;;\n",
                     // A host name of its own too (the ranks tell hosts apart
                     // by name, as on real machines).
                     "  ", hosts.address(1), ") exec ", hosts.ShellOn(1),
                     "unshare --uts /bin/sh -c 'hostname pgan-test-host-1 && ",
                     "exec /bin/sh -c \"$0\"' \"$*\" ;;\n", "esac\n",
                     "echo \"netns-rsh: unknown host $host\" >&2; exit 255\n"))
          .ok());
  ASSERT_EQ(::chmod(agent.c_str(), 0755), 0);
  // As root, mpirun needs --allow-run-as-root (and --oversubscribe here).
  const testing::CommandResult run = RunCommand(absl::StrCat(
      hosts.ShellOn(0), PGAN_MPIEXEC,
      " --allow-run-as-root --oversubscribe -np 2 --host ", hosts.address(0),
      ",", hosts.address(1), " --mca plm_rsh_agent ", agent,
      " --mca btl tcp,self --mca btl_tcp_if_include eth0",
      " --mca oob_tcp_if_include eth0 ", PGAN_MPI_TEST));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("[  PASSED  ]"), std::string::npos) << run.output;
  // Rank 1 was started on host 1, through the agent.
  EXPECT_EQ(ReadFile(calls).value_or(""), hosts.address(1) + "\n");
}

}  // namespace
}  // namespace pgan::comm
