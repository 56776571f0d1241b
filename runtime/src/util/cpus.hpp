// available_cpus(): how many CPUs this process may use, for Options::workers = 0.
//
// Design (after Go 1.25's cgroup-aware GOMAXPROCS, runtime/cgroup_linux.go)
// ------
// The smaller of two limits:
//   - the CPU affinity mask of the calling thread (sched_getaffinity): `taskset -c 0` gives 1;
//   - the CPU bandwidth quota of the process's cgroup (v2 cpu.max, or v1 cpu.cfs_quota_us over
//     cpu.cfs_period_us), found through /proc/self/cgroup and /proc/self/mountinfo: quota /
//     period rounded up, and at least 2 (as Go: a fractional quota still allows bursts on more
//     than one CPU, and one worker would serialize them).
// Like Go, only the leaf cgroup is read (container runtimes hide the parents). Read once, when
// a Runtime's options are validated. Any failure to read a limit means "no such limit".
// Rejected: std::thread::hardware_concurrency() (it counts the machine's CPUs, so under an
// affinity mask or a quota the workers outnumber the CPUs and stall each other).
#pragma once

namespace ergon::detail {

// At least 1.
unsigned available_cpus() noexcept;

}  // namespace ergon::detail
