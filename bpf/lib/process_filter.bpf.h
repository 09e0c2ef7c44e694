/* Which processes are observed: --pids (pid_allow, when the loader sets
 * filter_pids) and the processes userspace ruled out (tgid_ignore, for
 * example by executable). The socket probe creates the maps; the TLS and
 * TCP probes are loaded with the same map fds. */
#ifndef SIGHTLINE_BPF_LIB_PROCESS_FILTER_H
#define SIGHTLINE_BPF_LIB_PROCESS_FILTER_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} pid_allow SEC(".maps");

/* tgids userspace decided not to observe (for example by executable). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} tgid_ignore SEC(".maps");

/* Whether a process is observed at all: --pids (when filter_pids is set)
 * and the executables userspace ruled out. */
static __always_inline bool tgid_observed(__u32 tgid, bool filter_pids)
{
	if (filter_pids && !bpf_map_lookup_elem(&pid_allow, &tgid))
		return false;
	return !bpf_map_lookup_elem(&tgid_ignore, &tgid);
}

#endif
