/* Kernel/user ABI shared by every probe: the common event header and the
 * loss-counter layout. Plain C, fixed-size fields, explicit padding. */
#ifndef SIGHTLINE_BPF_COMMON_H
#define SIGHTLINE_BPF_COMMON_H

#ifdef __BPF__
/* vmlinux.h already defines the __uN types on the kernel side. */
#else
#include <linux/types.h>
#endif

/* Every event starts with this header. `size` is the full size of the event
 * including the header and any payload, so userspace can check it before use. */
struct sl_event_header {
	__u64 timestamp_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u32 type;         /* enum sl_event_type */
	__u32 size;
	__u32 pid;          /* thread-group id, what userspace calls the pid */
	__u32 tid;
};

enum sl_event_type {
	SL_EVENT_CONN_OPEN = 1,
	SL_EVENT_CONN_CLOSE = 2,
	SL_EVENT_DATA = 3,
	SL_EVENT_PROCESS_EXIT = 4, /* header only: the whole thread group has exited */
	SL_EVENT_PROCESS_INFO = 5, /* struct sl_process_event: once per process, at its first connection */
	SL_EVENT_TLS_DATA = 6,     /* struct sl_tls_data_event */
	SL_EVENT_TLS_BIND = 7,     /* struct sl_tls_bind_event */
	SL_EVENT_PROCESS_EXEC = 8, /* header only: the process called execve */
	SL_EVENT_CONN_PROTOCOL = 9, /* struct sl_conn_event: classified as TLS or HTTP/2 */
};

#endif
