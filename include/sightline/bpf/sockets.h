/* Kernel/user ABI of the socket probe (bpf/sockets.bpf.c): TCP connections
 * followed through syscall tracepoints, with their payload. */
#ifndef SIGHTLINE_BPF_SOCKETS_H
#define SIGHTLINE_BPF_SOCKETS_H

#include "sightline/bpf/common.h"

/* Largest payload one data event can carry; the configured capture size is
 * at most this. A power of two so the kernel side can bound lengths by masking. */
#define SL_MAX_CAPTURE 16384
/* iovecs of readv/writev/recvmsg/sendmsg looked at per call; bytes beyond are
 * reported as truncated. */
#define SL_MAX_IOV 1024

enum sl_direction {
	SL_DIR_INGRESS = 0, /* read by the observed process */
	SL_DIR_EGRESS = 1,  /* written by the observed process */
};

enum sl_role {
	SL_ROLE_UNKNOWN = 0, /* open before the daemon started: inferred from traffic */
	SL_ROLE_SERVER = 1,  /* accepted */
	SL_ROLE_CLIENT = 2,  /* connected */
};

enum sl_protocol {
	SL_PROTO_UNKNOWN = 0, /* no payload classified yet */
	SL_PROTO_HTTP1 = 1,
	SL_PROTO_TLS = 2,   /* TLS records: plaintext comes from the TLS probe */
	SL_PROTO_HTTP2 = 3, /* cleartext HTTP/2 (prior knowledge): not parsed, not captured */
	SL_PROTO_POSTGRES = 4, /* PostgreSQL frontend/backend protocol 3.0 */
	SL_PROTO_REDIS = 5,    /* Redis RESP */
	SL_PROTO_OTHER = 255, /* classified as something we do not parse: not captured */
};

enum sl_syscall {
	SL_SYS_READ = 0,
	SL_SYS_READV = 1,
	SL_SYS_RECVFROM = 2,
	SL_SYS_RECVMSG = 3,
	SL_SYS_WRITE = 4,
	SL_SYS_WRITEV = 5,
	SL_SYS_SENDTO = 6,
	SL_SYS_SENDMSG = 7,
	SL_SYS_SENDFILE = 8,
};

/* SL_EVENT_CONN_OPEN and SL_EVENT_CONN_CLOSE. Addresses are in network byte
 * order; IPv4 uses the first 4 bytes of the address fields. */
struct sl_conn_event {
	struct sl_event_header hdr;
	__u64 conn_id;       /* unique for the life of the probe: survives fd and pid reuse */
	__u64 bytes_ingress; /* close only: total bytes read */
	__u64 bytes_egress;  /* close only: total bytes written */
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 local_port;    /* host byte order */
	__u16 remote_port;
	__u16 family;        /* AF_INET or AF_INET6 */
	__u8 role;           /* enum sl_role */
	__u8 protocol;       /* enum sl_protocol at the time of the event */
	__u32 fd;
	__u32 _pad;
	char comm[16];
};

/* SL_EVENT_DATA: one syscall's worth of bytes on one connection. The
 * cap_len captured bytes follow the struct directly. */
struct sl_data_event {
	struct sl_event_header hdr;
	__u64 conn_id;
	__u64 seq;      /* offset of the first byte in this direction's byte stream */
	__u32 orig_len; /* bytes the syscall moved */
	__u32 cap_len;  /* bytes that follow; orig_len - cap_len were not captured */
	__u32 fd;
	__u8 direction; /* enum sl_direction */
	__u8 syscall;   /* enum sl_syscall */
	__u8 protocol;  /* enum sl_protocol */
	__u8 role;      /* enum sl_role */
};

/* SL_EVENT_PROCESS_INFO: who a process is, read in its own context when it
 * opens its first tracked connection, so that a client gone by the time
 * userspace looks is still named. env_cap bytes of its environment block
 * (NUL-separated) follow the struct. */
struct sl_process_event {
	struct sl_event_header hdr;
	__u32 env_len; /* size of the environment block */
	__u32 env_cap; /* bytes of it that follow */
	char exe_name[64]; /* basename of the executable */
};

/* Index into the per-CPU counter array `sl_counters`. Each is exported as a
 * sightline_* metric; every drop and truncation in the kernel has one. */
enum sl_counter {
	SL_CNT_LOST_DATA_RINGBUF_FULL = 0,    /* data events not emitted: ring buffer full */
	SL_CNT_LOST_CONTROL_RINGBUF_FULL = 1, /* open/close/exit events not emitted */
	SL_CNT_LOST_DATA_READ_FAILED = 2,     /* payload could not be read from user memory */
	SL_CNT_LOST_CONN_MAP_FULL = 3,        /* connection could not be tracked */
	SL_CNT_LOST_PROCESS_INFO = 4,         /* process identity events not emitted */
	SL_CNT_TRUNCATED_EVENTS = 5,          /* events whose payload was cut */
	SL_CNT_TRUNCATED_BYTES_CAPTURE = 6,   /* bytes beyond the capture size */
	SL_CNT_TRUNCATED_BYTES_IOV = 7,       /* bytes in iovecs beyond SL_MAX_IOV */
	SL_CNT_UNCAPTURED_BYTES_SENDFILE = 8, /* sendfile bytes: counted, never copied */
	SL_CNT_CONNS_UNCLASSIFIED = 9,        /* connections whose first bytes were not a known protocol */
	SL_CNT_CONNS_FILTERED = 10,           /* connections skipped by the port filters */
	SL_CNT_CONNS_TLS = 11,                /* connections whose first bytes were TLS records */
	SL_CNT_CONNS_HTTP2 = 12,              /* connections that opened with the HTTP/2 preface */
	SL_CNT_LOST_TLS_BIND = 13,            /* TLS bind events not emitted */
	SL_CNT_MAX = 14,
};

#endif
